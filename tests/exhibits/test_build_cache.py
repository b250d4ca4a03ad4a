"""What a rebuild keeps under ``<data dir>/exhibit-cache``, through the real chain (the session's
anvil), the embedded node and the stand-in renderer: the gather cache gives the candidates a
build without it gives, and loses them when an event bears on them (a revocation, a keyholder
rotation, a second community's claim on the content); a damaged entry is ignored, deleted and
gathered again; nothing of an excluded or sealed item is kept there; masters are not fetched
again when their derivation is known, and a damaged derivation is derived again; files already
scanned clean against the same secrets are not scanned again, and a new leak is still found."""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import tempfile
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

import pytest
from PIL import Image

from exhibits.build import BuildResult, build_exhibit, choose, secrets_of
from exhibits.build_cache import ScanMemo, scan_new
from exhibits.derive.dispatch import DeriveSettings
from exhibits.derive.images import ImageSettings
from exhibits.gather_cache import candidate_from_json, candidate_to_json
from exhibits.model import Candidate, ChainRef, Exhibited, RoomPlan
from exhibits.scan import Secret, check_clean
from exhibits.site.render import render_site
from exhibits.site_sync import kept_copy, previous_of
from exhibits.spec import ExhibitSpec, parse_spec
from ledger.crypto import KEM_X25519
from ledger.errors import LeakFound
from ledger.ipfs.cid import Cid
from ledger.keys import new_key
from ledger.registry import Registry
from ledger.rights.description import description_from_json
from ledger.settings import Settings
from local_chain import anvil_dev_account
from tests.exhibits.build_support import World, make_world, render_standin, spec_text
from tests.registry_support import (
    PASSPHRASE,
    chain_settings,
    chain_snapshot,
    module_chain,
    settings_on,
)

REUSED_FIXTURES = (chain_settings, module_chain)


@pytest.fixture(scope="module")
def world(module_chain: Settings, tmp_path_factory: pytest.TempPathFactory) -> World:
    return make_world(module_chain, tmp_path_factory.mktemp("cache-world"))


def own_copy(world: World, tmp_path: Path) -> Settings:
    """A data directory of the test's own (revoking withdraws blocks from the node)."""
    own = settings_on(world.settings, tmp_path / "data")
    shutil.copytree(world.settings.data_dir, own.data_dir)
    shutil.rmtree(own.data_dir / "exhibit-cache", ignore_errors=True)
    return own


def build(spec: ExhibitSpec, settings: Settings, out: Path, **kwargs: object) -> BuildResult:
    return build_exhibit(spec, out, settings=settings, render=render_standin, **kwargs)  # type: ignore[arg-type]


def candidates(result_or_choice: object) -> dict[str, Candidate]:
    choice = getattr(result_or_choice, "choice", result_or_choice)
    found = [s.candidate for s in choice.shown] + [e.candidate for e in choice.excluded]  # type: ignore[attr-defined]
    return {c.item_id: c for c in found}


def cache_bytes(settings: Settings) -> bytes:
    root = settings.data_dir / "exhibit-cache"
    return b"".join(p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file())


def entries(settings: Settings) -> dict[str, Path]:
    return {p.stem: p for p in (settings.data_dir / "exhibit-cache" / "gather").rglob("*.json")}


def test_a_rebuild_recalls_what_a_build_without_the_cache_gathers(
    world: World, tmp_path: Path
) -> None:
    own = own_copy(world, tmp_path)
    spec = parse_spec(spec_text(world, both=True))
    first = build(spec, own, tmp_path / "site")
    assert first.recalled == 0
    shown = {s.candidate.key.hex() for s in first.choice.shown}
    # Only shown candidates are kept (sealed ones never): one entry each.
    assert set(entries(own)) == shown
    # Nothing of an excluded item (sealed, embargoed, revoked, disputed) is kept.
    data = cache_bytes(own)
    for name in ("sacred-sea", "tide-embargoed", "drum-revoked", "shared-shell", "shared_hill"):
        assert world.keys[name].hex().encode() not in data
        assert world.cids[name].encode() not in data
        assert name.encode() not in data
    again = build(spec, own, tmp_path / "site")
    assert again.recalled == len(shown) == 6
    assert (again.fetched, again.derived) == (0, 0)
    uncached, _ = choose(spec, own)
    assert candidates(again) == candidates(uncached) == candidates(first)
    assert [s.candidate.item_id for s in again.choice.shown] == [
        s.candidate.item_id for s in uncached.shown
    ]


def test_a_revocation_after_a_cached_build_removes_the_item_and_its_entry(
    world: World, tmp_path: Path
) -> None:
    own = own_copy(world, tmp_path)
    spec = parse_spec(spec_text(world))
    build(spec, own, tmp_path / "site")
    assert world.keys["bowl"].hex() in entries(own)
    with chain_snapshot(world.w3()):
        with Registry(own, sender=anvil_dev_account()) as reg:
            reg.terms.revoke(world.cids["bowl"], world.signer_keys(), world.reef)
        result = build(spec, own, tmp_path / "site")
        uncached, _ = choose(spec, own)
    why = {e.candidate.item_id: {r.code for r in e.reasons} for e in result.choice.excluded}
    assert why[world.id("bowl")] == {"claim.revoked"}
    assert candidates(result) == candidates(uncached)
    assert not (tmp_path / "site" / "items" / world.id("bowl")).exists()
    # Its entry is gone, and nothing of it is left in the cache: not its key, its CID or its
    # file name (the memo of its derivation names derivations by hash only).
    assert world.keys["bowl"].hex() not in entries(own)
    data = cache_bytes(own)
    assert world.keys["bowl"].hex().encode() not in data
    assert b"bowl" not in data
    assert result.recalled == 5  # every other shown item: nothing happened to them


def test_a_keyholder_rotation_gathers_the_community_s_claims_again(
    world: World, tmp_path: Path
) -> None:
    own = own_copy(world, tmp_path)
    spec = parse_spec(spec_text(world))
    first = build(spec, own, tmp_path / "site")
    with chain_snapshot(world.w3()):
        with Registry(own, sender=anvil_dev_account()) as reg:
            holder = new_key(own, PASSPHRASE, unsafe_light_kdf=True, encryption=KEM_X25519).address
            reg.communities.rotate(world.reef, [holder], 1, world.signer_keys())
        result = build(spec, own, tmp_path / "site")
        uncached, _ = choose(spec, own)
    assert result.recalled == 0  # every claim is Reef's: each gathered and checked again
    assert candidates(result) == candidates(uncached)
    assert {s.candidate.item_id for s in result.choice.shown} == {
        s.candidate.item_id for s in first.choice.shown
    }


def test_a_second_community_claiming_the_content_makes_it_disputed(
    world: World, tmp_path: Path
) -> None:
    own = own_copy(world, tmp_path)
    spec = parse_spec(spec_text(world))
    build(spec, own, tmp_path / "site")
    with chain_snapshot(world.w3()):
        with Registry(own, sender=anvil_dev_account()) as reg:
            reg.items.register(
                [world.folder / "files" / "bowl.png"], world.hill, world.folder / "hill.json",
                world.signer_keys(),
            )  # fmt: skip
        result = build(spec, own, tmp_path / "site")
    why = {e.candidate.item_id: {r.code for r in e.reasons} for e in result.choice.excluded}
    assert why[world.id("bowl")] == {"content.disputed"}
    assert not (tmp_path / "site" / "items" / world.id("bowl")).exists()
    assert world.keys["bowl"].hex() not in entries(own)
    assert result.recalled == 5


def test_a_damaged_entry_is_ignored_deleted_and_gathered_again(
    world: World, tmp_path: Path
) -> None:
    own = own_copy(world, tmp_path)
    spec = parse_spec(spec_text(world))
    first = build(spec, own, tmp_path / "site")
    found = entries(own)
    # A flipped byte; a changed title under the old check digest; a terms document changed
    # with its check digest recomputed (its CID no longer matches); another claim's entry.
    anchor, bowl, net, paddle = (found[world.keys[n].hex()] for n in
                                 ("anchor", "bowl", "net", "paddle"))  # fmt: skip
    anchor.write_bytes(anchor.read_bytes()[:40] + b"!" + anchor.read_bytes()[41:])
    entry = json.loads(bowl.read_text())
    entry["candidate"]["file_name"] = "forged.png"
    bowl.write_text(json.dumps(entry))
    entry = json.loads(net.read_text())
    document = json.loads(entry["candidate"]["terms"]["document"])
    document["access"] = [{"protocol": "public"}, {"protocol": "community"}]
    entry["candidate"]["terms"]["document"] = json.dumps(document)
    from exhibits.gather_cache import _check

    entry["check"] = _check(entry["fingerprint"], entry["candidate"])
    net.write_text(json.dumps(entry))
    shutil.copyfile(found[world.keys["kite-expiring"].hex()], paddle)
    result = build(spec, own, tmp_path / "site")
    assert result.recalled == 2  # anchor-restored and kite-expiring only
    assert candidates(result) == candidates(first)
    again = build(spec, own, tmp_path / "site")
    assert again.recalled == 6  # the damaged entries were written anew


def test_a_candidate_reads_back_as_it_was_written() -> None:
    description = description_from_json({
        "type": "heritage/description", "version": 1,
        "title": {"en": "Waka <b>", "mi": "Waka"}, "subjects": ["voyaging"],
        "place": {"name": "Te Awanui", "lat": -37.7, "lon": 176.1},
    })  # fmt: skip
    terms_text = json.dumps({
        "type": "heritage/terms", "version": 1, "community": "0x" + "11" * 32,
        "license": "CC-BY-4.0", "access": [{"protocol": "public"}],
        "ai_use": {"training": False, "enhancement": False},
    })  # fmt: skip
    import hashlib

    from ledger.ipfs.cid import RAW
    from ledger.rights.claims import ClaimTerms
    from ledger.rights.model import parse_terms

    terms_cid = Cid.from_digest(hashlib.sha256(terms_text.encode()).digest(), RAW)
    terms = parse_terms(json.loads(terms_text), where="terms")
    candidate = Candidate(
        key=b"\x01" * 32,
        cid=Cid.parse("bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy"),
        community=b"\x11" * 32, community_name=None, kind="item", file_name="waka.png",
        media_type="image/png", size=10, description=description, description_version=2,
        terms=terms, terms_cid=terms_cid, terms_version=3, revoked=False,
        claims=(ClaimTerms(b"\x01" * 32, b"\x11" * 32, terms, False),
                ClaimTerms(b"\x02" * 32, b"\x22" * 32, None, True, True)),
        registered_at=datetime.fromtimestamp(1_780_000_000).astimezone(),
        block=7, transaction="0x" + "ab" * 32, import_settings={"chunk_size": 262144},
    )  # fmt: skip
    value = candidate_to_json(
        candidate, {b"\x01" * 32: str(terms_cid)}, {str(terms_cid): terms_text.encode()}
    )
    back = candidate_from_json(json.loads(json.dumps(value)))
    assert back == candidate
    with pytest.raises(KeyError):  # a terms document not at hand: not written
        candidate_to_json(candidate, {}, {})


def test_masters_are_not_fetched_when_their_derivation_is_known(
    world: World, tmp_path: Path
) -> None:
    own = own_copy(world, tmp_path)
    spec = parse_spec(spec_text(world))
    first = build(spec, own, tmp_path / "site")
    assert first.fetched == 6
    # The masters leave the node (each is one block): a rebuild does not need them.
    masters = {(world.folder / "files" / f"{s.candidate.file_name}").read_bytes()
               for s in first.choice.shown}  # fmt: skip
    removed = 0
    for block in (own.data_dir / "blocks").rglob("*.data"):
        if block.read_bytes() in masters:
            block.unlink()
            removed += 1
    assert removed == 6
    again = build(spec, own, tmp_path / "site2")
    assert (again.fetched, again.derived) == (0, 0)
    assert site_files(tmp_path / "site") == site_files(tmp_path / "site2")


def test_a_damaged_derivation_or_memo_is_derived_again(world: World, tmp_path: Path) -> None:
    own = own_copy(world, tmp_path)
    spec = parse_spec(spec_text(world))
    build(spec, own, tmp_path / "site")
    reference = site_files(tmp_path / "site")
    derived = sorted((own.data_dir / "derived").rglob("image.jpg"))
    data = derived[0].read_bytes()
    derived[0].write_bytes(data[:100] + bytes([data[100] ^ 1]) + data[101:])
    memos = sorted((own.data_dir / "exhibit-cache" / "items").rglob("*.json"))
    memos[-1].write_text(memos[-1].read_text().replace('"files"', '"filez"'))
    result = build(spec, own, tmp_path / "site")
    assert result.fetched in (1, 2)  # the damaged derivation's item, the damaged memo's
    assert result.derived == 1  # only the damaged derivation is made again
    assert site_files(tmp_path / "site") == reference


def site_files(folder: Path) -> dict[str, bytes]:
    return {
        p.relative_to(folder).as_posix(): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and p.name != "index.html"  # the stand-in's index has built_at
    }


def test_files_scanned_clean_are_not_scanned_again_and_a_new_leak_is_found(
    world: World, tmp_path: Path
) -> None:
    own = own_copy(world, tmp_path)
    spec = parse_spec(spec_text(world))
    first = build(spec, own, tmp_path / "site")
    assert first.choice.excluded  # there are secrets to scan for
    files = sum(1 for p in (tmp_path / "site").rglob("*") if p.is_file())
    assert first.scanned == -1 or first.scanned == files
    again = build(spec, own, tmp_path / "site")
    assert again.scanned == 1  # the stand-in's index.html (it carries built_at)

    def leaky(
        spec: ExhibitSpec, rooms: Sequence[RoomPlan], items: Sequence[Exhibited],
        chain: ChainRef, out: Path, *, built_at: datetime,
    ) -> None:  # fmt: skip
        render_standin(spec, rooms, items, chain, out, built_at=built_at)
        (out / "extra.txt").write_text(f"see {world.cids['drum-revoked']}\n")

    with pytest.raises(LeakFound, match=r"extra\.txt"):
        build_exhibit(spec, tmp_path / "site", settings=own, render=leaky)
    # A damaged memo: every file is scanned.
    (memo,) = (own.data_dir / "exhibit-cache" / "scan").glob("*.json")
    memo.write_text(memo.read_text()[:-5])
    assert ScanMemo(memo.parent, []).clean == set()
    third = build(spec, own, tmp_path / "site")
    assert third.scanned in (-1, files)


def test_claims_on_many_cids_are_the_claims_on_each(world: World) -> None:
    cids = [bytes(Cid.parse(world.cids[n])) for n in sorted(world.cids)]
    with Registry(world.settings) as reg:
        many = reg.reader.claims_on_many(cids, sync=False)
        assert set(many) == set(cids)
        for cid in cids:
            assert many[cid] == reg.reader.claims_on(cid, sync=False)[0]
    kinds = {c.kind for claims in many.values() for c in claims}
    assert kinds == {"item", "derivative", "batch-item"}
    shell = bytes(Cid.parse(world.cids["shared-shell"]))
    assert {c.community for c in many[shell]} == {world.reef, world.hill}


def tree(folder: Path) -> dict[str, bytes]:
    return {
        p.relative_to(folder).as_posix(): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def test_a_synced_rebuild_writes_what_render_site_writes_and_keeps_a_mirror_only(
    world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1780000000")
    own = own_copy(world, tmp_path)
    spec = parse_spec(spec_text(world))
    served = tmp_path / "www"  # the folder a web server serves: the site and nothing else
    site = served / "site"
    private = tmp_path / "reports" / "site.report.json"
    # A copy that an earlier version kept beside the site (holding an item since excluded).
    legacy = previous_of(site)
    legacy.mkdir(parents=True)
    (legacy / "old.txt").write_text(str(world.cids["drum-revoked"]))
    # The reference: the renderer writing into an empty folder, nothing kept.
    plain = build_exhibit(spec, tmp_path / "plain", settings=own, render=render_site, caches=False)
    first = build_exhibit(spec, site, settings=own, report_path=private)
    assert tree(site) == tree(tmp_path / "plain")
    assert sorted(p.name for p in served.iterdir()) == ["site"]  # the old copy is gone
    copy = kept_copy(site, own.data_dir / "exhibit-cache" / "sites")
    assert copy is not None and own.data_dir in copy.parents

    def same_files() -> None:
        # The copy is the site's own files, linked: the same inodes, nothing else.
        ours = {p.relative_to(site).as_posix(): p.stat().st_ino for p in site.rglob("*")
                if p.is_file()}  # fmt: skip
        kept = {p.relative_to(copy).as_posix(): p.stat().st_ino for p in copy.rglob("*")
                if p.is_file()}  # fmt: skip
        assert kept == ours

    same_files()
    inodes = {p: p.stat().st_ino for p in site.rglob("*") if p.is_file()}
    again = build_exhibit(spec, site, settings=own, report_path=private)
    # Nothing changed: not one file was written (the copy came back with the same files).
    assert {p: p.stat().st_ino for p in site.rglob("*") if p.is_file()} == inodes
    assert again.scanned == 0 and first.choice.excluded  # every file known clean
    assert tree(site) == tree(tmp_path / "plain")
    same_files()
    # A file of the copy changed behind the build's back (same size): written again.
    index = copy / "index.html"
    data = index.read_bytes()
    index.unlink()  # the copy's name only: the site keeps its file
    index.write_bytes(data.replace(b"<html", b"<HTML", 1))
    assert world.id("bowl") in {s.candidate.item_id for s in again.choice.shown}
    with chain_snapshot(world.w3()):
        with Registry(own, sender=anvil_dev_account()) as reg:
            reg.terms.revoke(world.cids["bowl"], world.signer_keys(), world.reef)
        third = build_exhibit(spec, site, settings=own, report_path=private)
        reference = build_exhibit(
            spec, tmp_path / "plain", settings=own, render=render_site, caches=False
        )
        assert world.id("bowl") in {e.candidate.item_id for e in third.choice.excluded}
        assert tree(site) == tree(tmp_path / "plain")
        assert b"<HTML" not in (site / "index.html").read_bytes()
        same_files()
        # Nothing of the revoked item is left anywhere a web server of the site serves, nor in
        # the copy: every form of its CID, key, titles and file name, searched by the real scan.
        revoked = secrets_of(
            [e.candidate for e in third.choice.excluded if e.candidate.item_id == world.id("bowl")],
            [s.candidate for s in third.choice.shown],
        )
        assert sorted(p.name for p in served.iterdir()) == ["site"]
        check_clean(served, revoked)
        check_clean(copy, revoked)
        assert not (copy / "items" / world.id("bowl")).exists()
        assert b"bowl" not in b"".join(tree(copy).values())
        assert plain.choice.shown and reference.choice.excluded
        # A build without the copy (another renderer, no caches) leaves no out-of-date copy.
        build_exhibit(
            spec, site, settings=own, render=render_site, caches=False, report_path=private
        )
        assert not copy.exists()


def test_no_copy_is_kept_when_the_data_directory_is_on_another_file_system(
    world: World, tmp_path: Path
) -> None:
    shm = Path("/dev/shm")
    if not shm.is_dir() or shm.stat().st_dev == tmp_path.stat().st_dev:
        pytest.skip("no second file system (/dev/shm) on this machine")
    own = own_copy(world, tmp_path)
    spec = parse_spec(spec_text(world))
    served = Path(tempfile.mkdtemp(dir=shm))
    try:
        site = served / "site"
        assert kept_copy(site, own.data_dir / "exhibit-cache" / "sites") is None
        build_exhibit(spec, site, settings=own, report_path=tmp_path / "r.json")
        again = build_exhibit(spec, site, settings=own, report_path=tmp_path / "r.json")
        assert sorted(p.name for p in served.iterdir()) == ["site"]
        assert not list((own.data_dir / "exhibit-cache" / "sites").glob("*.site"))
        assert again.choice.shown and tree(site)
    finally:
        shutil.rmtree(served)


def test_a_synced_rebuild_that_finds_a_leak_leaves_the_site_as_it_was(
    world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    own = own_copy(world, tmp_path)
    spec = parse_spec(spec_text(world))
    site = tmp_path / "site"
    build_exhibit(spec, site, settings=own)
    before = tree(site)
    import exhibits.build as build_module

    real = build_module._site_files

    def leaky(*args: object, **kwargs: object) -> dict[str, bytes]:
        files = real(*args, **kwargs)  # type: ignore[arg-type]
        files["extra.txt"] = world.cids["drum-revoked"].encode()
        return files

    monkeypatch.setattr(build_module, "_site_files", leaky)
    with pytest.raises(LeakFound, match=r"extra\.txt"):
        build_exhibit(spec, site, settings=own)
    assert tree(site) == before
    copy = kept_copy(site, own.data_dir / "exhibit-cache" / "sites")
    assert copy is not None and not copy.exists()  # the copy held the leak: gone
    monkeypatch.undo()
    build_exhibit(spec, site, settings=own)  # written afresh, then mirrored again
    assert tree(copy) == tree(site)


def test_other_derivation_settings_are_not_served_the_files_of_the_last(
    world: World, tmp_path: Path
) -> None:
    own = own_copy(world, tmp_path)
    spec = parse_spec(spec_text(world))
    build(spec, own, tmp_path / "site")
    # The defaults written out: the same settings, so the memo serves them.
    same = DeriveSettings(image=ImageSettings())
    assert build(spec, own, tmp_path / "site", derive_settings=same).fetched == 0
    smaller = DeriveSettings(image=ImageSettings(thumbnail_px=32))
    result = build(spec, own, tmp_path / "site", derive_settings=smaller)
    assert (result.fetched, result.derived) == (6, 6)
    for shown in result.choice.shown:
        thumbnail = shown.candidate.item_id
        data = (tmp_path / "site" / "items" / thumbnail / "files" / "thumbnail.jpg").read_bytes()
        assert max(Image.open(io.BytesIO(data)).size) <= 32


def test_vendored_bytes_known_clean_at_their_path_are_searched_for_everything_elsewhere(
    tmp_path: Path,
) -> None:
    site = tmp_path / "site"
    library = b"class Scene { constructor() { this.type = 'Scene'; } }\n"
    (site / "assets" / "vendor").mkdir(parents=True)
    (site / "assets" / "vendor" / "three.js").write_bytes(library)
    (site / "index.html").write_text("<p>hello</p>\n")
    secrets = [Secret.text("excluded item 1", "Scene")]
    fixed = {"assets/vendor/three.js": library}
    memo = ScanMemo(tmp_path / "scan", secrets)
    assert scan_new(site, secrets, memo, fixed=fixed) == 2  # the library: for ids only
    memo = ScanMemo(tmp_path / "scan", secrets)
    assert scan_new(site, secrets, memo, fixed=fixed) == 0
    # The same bytes at another path are an item's: searched for everything, and they hit.
    (site / "items").mkdir()
    (site / "items" / "copy.js").write_bytes(library)
    with pytest.raises(LeakFound, match=r"items/copy\.js"):
        scan_new(site, secrets, ScanMemo(tmp_path / "scan", secrets), fixed=fixed)


def test_another_spec_s_build_sweeps_the_entry_of_an_item_withdrawn_since(
    world: World, tmp_path: Path
) -> None:
    own = own_copy(world, tmp_path)
    build(parse_spec(spec_text(world)), own, tmp_path / "all")
    assert world.keys["bowl"].hex() in entries(own)
    only = parse_spec(spec_text(world, f'items = ["{world.cids["anchor"]}"]'))
    with chain_snapshot(world.w3()):
        with Registry(own, sender=anvil_dev_account()) as reg:
            reg.terms.revoke(world.cids["bowl"], world.signer_keys(), world.reef)
        result = build(only, own, tmp_path / "anchor")
    assert [s.candidate.item_id for s in result.choice.shown] == [world.id("anchor")]
    kept = entries(own)
    assert world.keys["bowl"].hex() not in kept  # withdrawn: swept, though not selected
    assert world.keys["net"].hex() in kept  # nothing happened to it: kept for its spec
    assert b"bowl" not in cache_bytes(own)


def test_warm_and_cold_caches_build_the_same_site(
    world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1780000000")
    own = own_copy(world, tmp_path)
    spec = parse_spec(spec_text(world))
    build_exhibit(spec, tmp_path / "warm", settings=own)
    warm = build_exhibit(spec, tmp_path / "warm", settings=own)  # everything from the caches
    assert warm.derived == 0 and warm.fetched == 0 and warm.scanned == 0
    # Cold: nothing kept at all, every item derived again from its master.
    cold_settings = own_copy(world, tmp_path / "cold-data")
    shutil.rmtree(cold_settings.data_dir / "derived", ignore_errors=True)
    cold = build_exhibit(spec, tmp_path / "cold", settings=cold_settings)
    assert cold.derived == len(cold.choice.shown) > 0
    assert tree(tmp_path / "warm") == tree(tmp_path / "cold")
    proofs = json.loads((tmp_path / "warm" / "proofs.json").read_bytes())
    assert proofs["items"]  # the derived files' CIDs, from hashes computed in this build


def test_a_file_of_the_copy_changed_in_place_with_its_time_set_back_is_written_again(
    world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1780000000")
    own = own_copy(world, tmp_path)
    spec = parse_spec(spec_text(world))
    site = tmp_path / "site"
    build_exhibit(spec, site, settings=own)
    build_exhibit(spec, site, settings=own)
    # Size, modification time and inode as the manifest recorded them: only the change time
    # tells (the site's own file is the same inode: both change).
    page = next(p for p in sorted(site.glob("items/*/index.html")))
    before = page.stat()
    data = page.read_bytes()
    with page.open("r+b") as stream:
        stream.write(data[:1].swapcase() if data[:1].isalpha() else b"X")
    os.utime(page, ns=(before.st_atime_ns, before.st_mtime_ns))
    after = page.stat()
    assert (after.st_size, after.st_mtime_ns, after.st_ino) == (
        before.st_size, before.st_mtime_ns, before.st_ino,
    )  # fmt: skip
    build_exhibit(spec, site, settings=own)
    assert (site / page.relative_to(site)).read_bytes() == data


def test_hashes_answer_only_for_the_very_bytes_hashed() -> None:
    from exhibits.derive.cache import Hashes
    from exhibits.derive.records import file_cid
    from exhibits.site.render import site_environment

    hashes = Hashes()
    data = bytes(range(256)) * 2000  # two chunks: the CID is a DAG's, not the bytes' SHA-256
    cid = hashes.cid(data)
    assert cid == file_cid(data) and hashes.known_cid(data) == cid
    assert hashes.token(data) == f"cid:{cid}"
    twin = bytes(bytearray(data))  # equal bytes, another object: computed, never assumed
    assert twin is not data and hashes.known_cid(twin) is None
    changed = data[:-1] + b"\x00"
    assert hashes.known_cid(changed) is None and hashes.cid(changed) != cid
    other = b"plain text"
    assert hashes.token(other) == hashlib.sha256(other).hexdigest()
    mutable = bytearray(b"abc")
    hashes.note_cid(mutable, cid)  # type: ignore[arg-type]
    assert hashes.known_cid(mutable) is None  # type: ignore[arg-type]  # never noted: may change
    assert site_environment() is site_environment()  # one environment per process


def test_settings_digests_computed_once_are_the_canonical_ones() -> None:
    from exhibits.derive.cache import _settings_digest
    from exhibits.derive.records import settings_digest

    for settings in (
        {"max_px": 2048, "quality": 85},
        {"quality": 85, "max_px": 2048},  # another key order: the same settings
        {"max_px": 2048.5, "quality": 85},
        {"max_px": True, "quality": 85},  # true is not 1 in JSON
        {"max_px": 1, "quality": 85},
        {"name": "é\u2028", "nested": {"b": [1, 2], "a": None}},
    ):
        assert _settings_digest(settings) == settings_digest(settings)
        assert _settings_digest(settings) == _settings_digest(dict(settings))  # remembered
    assert _settings_digest({"max_px": True}) != _settings_digest({"max_px": 1})
