"""The exhibit build through the real chain (the session's anvil) and the embedded IPFS node:
gather and select decide exactly the allowed set, with reasons for the rest; the site holds
nothing of an excluded item (a planted leak fails the build); the report tells what changed;
a past --at sees the terms then in force; masters are re-checked against their CIDs. Builds
render the real site (exhibits.site.render) unless a test passes the stand-in of
tests/exhibits/build_support.py, which writes only what it is given, to look at the stages
before rendering."""

from __future__ import annotations

import dataclasses
import functools
import json
import shutil
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from exhibits.build import (
    MARKER,
    BuildResult,
    Render,
    build_exhibit,
    build_moment,
    check_master,
    choose,
)
from exhibits.model import ChainRef, Exhibited, RoomPlan
from exhibits.site.render import render_site
from exhibits.spec import ExhibitSpec, parse_spec
from ledger.errors import CorruptBlock, IpfsError, LeakFound, NotFound, UsageError
from ledger.ipfs.cid import Cid
from ledger.registry import Registry
from ledger.settings import Settings
from local_chain import anvil_dev_account
from tests.exhibits.build_support import World, make_world, render_standin, spec_text
from tests.exhibits.site_support import _assets, _gallery, _proofs
from tests.registry_support import chain_settings, chain_snapshot, module_chain, settings_on

REUSED_FIXTURES = (chain_settings, module_chain)


@pytest.fixture(scope="module")
def world(module_chain: Settings, tmp_path_factory: pytest.TempPathFactory) -> World:
    return make_world(module_chain, tmp_path_factory.mktemp("exhibit-world"))


def build(
    world: World, out: Path, *, at: datetime | None = None, render: Render = render_site
) -> BuildResult:
    return build_exhibit(
        parse_spec(spec_text(world)), out, settings=world.settings, at=at, render=render
    )


def site_bytes(folder: Path) -> bytes:
    return b"".join(p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file())


def test_the_site_shows_exactly_the_allowed_set_and_the_report_says_why(
    world: World, tmp_path: Path
) -> None:
    out = tmp_path / "site"
    result = build_exhibit(
        parse_spec(spec_text(world, both=True)), out, settings=world.settings,
        render=render_standin,
    )  # fmt: skip
    shown = {s.candidate.item_id: s.candidate for s in result.choice.shown}
    public = ("anchor", "bowl", "net", "paddle", "anchor-restored", "kite-expiring")
    assert set(shown) == {world.id(n) for n in public}
    assert {n: shown[world.id(n)].kind for n in public} == {
        "anchor": "item", "bowl": "item", "net": "batch-item", "paddle": "batch-item",
        "anchor-restored": "derivative", "kite-expiring": "item"}  # fmt: skip
    assert {n: shown[world.id(n)].file_name for n in public} == {n: f"{n}.png" for n in public}
    assert all(shown[world.id(n)].media_type == "image/png" for n in public)
    (lineage,) = shown[world.id("anchor-restored")].lineage
    assert lineage.parent_key == world.keys["anchor"]
    assert str(lineage.parent_cid) == world.cids["anchor"]
    assert lineage.method == {"method": "restoration"} and lineage.ai_enhanced is False
    assert shown[world.id("anchor")].transaction is not None
    assert shown[world.id("anchor")].terms_version == 1
    why = {e.candidate.item_id: {r.code for r in e.reasons} for e in result.choice.excluded}
    assert set(why) == {
        world.id(n)
        for n in ("sacred-sea", "tide-embargoed", "drum-revoked", "shared-shell", "shared_hill")
    }
    assert why[world.id("drum-revoked")] == {"claim.revoked"}
    assert why[world.id("tide-embargoed")] == {"window.embargoed"}
    assert why[world.id("shared-shell")] == why[world.id("shared_hill")] == {"content.disputed"}
    assert "access.not-public" in why[world.id("sacred-sea")]
    sealed = next(e.candidate for e in result.choice.excluded
                  if e.candidate.item_id == world.id("sacred-sea"))  # fmt: skip
    assert sealed.sealed and sealed.file_name == "" and sealed.description is None

    # The site: the marker, each shown item's derived files, nothing of the excluded.
    assert (out / MARKER).is_file()
    for name in public:
        files = out / "items" / world.id(name) / "files"
        assert sorted(p.name for p in files.iterdir()) == ["image.jpg", "thumbnail.jpg"]
    data = site_bytes(out)
    for name in ("sacred-sea", "tide-embargoed", "drum-revoked", "shared-shell"):
        assert world.keys[name].hex().encode() not in data
        assert world.cids[name].encode() not in data
        assert name.encode() not in data

    # The report: beside the site, every selected item with its CID and reasons.
    assert result.report_path == tmp_path / "site.report.json"
    report = json.loads(result.report_path.read_text())
    assert report["counts"] == {"selected": 11, "shown": 6, "excluded": 5}
    by_id = {i["id"]: i for i in report["items"]}
    assert by_id[world.id("drum-revoked")]["cid"] == world.cids["drum-revoked"]
    assert [r["code"] for r in by_id[world.id("drum-revoked")]["reasons"]] == ["claim.revoked"]
    assert by_id[world.id("sacred-sea")]["sealed"] is True
    assert report["changes"] is None  # the first build of this spec here

    # The same build again: nothing derived anew, no changes, the old site replaced.
    again = build_exhibit(
        parse_spec(spec_text(world, both=True)), out, settings=world.settings,
        render=render_standin,
    )  # fmt: skip
    assert (again.derived, again.reused) == (0, 6)
    assert again.report["changes"] == {"since": report["built_at"], "added": [], "removed": []}
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".site.")]


def test_a_revocation_removes_the_item_from_the_next_build_and_the_report_says_why(
    world: World, tmp_path: Path
) -> None:
    out = tmp_path / "site"
    spec = parse_spec(spec_text(world))
    # A data directory of its own: revoking withdraws the item's blocks from its node.
    own = settings_on(world.settings, tmp_path / "data")
    shutil.copytree(world.settings.data_dir, own.data_dir)
    build_exhibit(spec, out, settings=own, render=render_standin)
    with chain_snapshot(world.w3()):
        with Registry(own, sender=anvil_dev_account()) as reg:
            reg.terms.revoke(world.cids["bowl"], world.signer_keys(), world.reef)
        result = build_exhibit(spec, out, settings=own, render=render_standin)
    changes = result.report["changes"]
    assert changes["added"] == []
    assert [(r["id"], [w["code"] for w in r["why"]]) for r in changes["removed"]] == [
        (world.id("bowl"), ["claim.revoked"])
    ]
    assert not (out / "items" / world.id("bowl")).exists()
    assert (out / "items" / world.id("anchor")).is_dir()


def test_a_past_moment_sees_the_terms_then_in_force(world: World, tmp_path: Path) -> None:
    spec = parse_spec(spec_text(world))
    choice, _ = choose(spec, world.settings)
    drum = next(e.candidate for e in choice.excluded
                if e.candidate.item_id == world.id("drum-revoked"))  # fmt: skip
    registered = drum.registered_at
    # Between the registration and the revocation (120 s later on the chain's clock).
    before_revocation = registered + timedelta(seconds=30)
    then, _ = choose(spec, world.settings, before_revocation)
    assert world.id("drum-revoked") in {s.candidate.item_id for s in then.shown}
    # Before anything was registered, nothing is.
    empty, _ = choose(spec, world.settings, registered - timedelta(days=1))
    assert empty.shown == () and empty.excluded == ()
    # Its plaintext was withdrawn from this node when it was revoked: a build as of then
    # cannot fetch it, and says so.
    with pytest.raises(NotFound, match=f"item {world.id('drum-revoked')}: its master .* withdrawn"):
        build(world, tmp_path / "gone", at=before_revocation)
    assert not (tmp_path / "gone").exists()
    # A build as of a moment before anything was registered is an empty exhibit.
    early = registered - timedelta(days=1)
    result = build(world, tmp_path / "then", at=early)
    assert result.built_at == early
    assert result.report["counts"] == {"selected": 0, "shown": 0, "excluded": 0}
    assert not (tmp_path / "then" / "items").exists()


def test_items_and_subjects_narrow_the_selection(world: World) -> None:
    spec = parse_spec(spec_text(world, f'items = ["{world.cids["anchor"]}", '
                                       f'"{world.id("drum-revoked")}"]'))  # fmt: skip
    choice, _ = choose(spec, world.settings)
    assert [s.candidate.item_id for s in choice.shown] == [world.id("anchor")]  # not its
    # derivative: that is other content
    assert [e.candidate.item_id for e in choice.excluded] == [world.id("drum-revoked")]
    # No description lists a subject yet: a subject selects nothing.
    none, _ = choose(parse_spec(spec_text(world, 'subjects = ["songs"]')), world.settings)
    assert none.shown == () and none.excluded == ()


def test_an_unknown_community_is_a_clear_error(world: World) -> None:
    spec = parse_spec(
        'title = "T"\nlanguages = ["en"]\n[select]\ncommunities = ["No Such People"]\n'
    )
    with pytest.raises(NotFound, match="no community named 'No Such People'"):
        choose(spec, world.settings)
    unknown = "0x" + "ab" * 32
    spec = parse_spec(f'title = "T"\nlanguages = ["en"]\n[select]\ncommunities = ["{unknown}"]\n')
    with pytest.raises(NotFound, match="which this chain does not have"):
        choose(spec, world.settings)


def test_a_planted_leak_fails_the_build_and_writes_nothing(world: World, tmp_path: Path) -> None:
    planted = world.cids["tide-embargoed"]

    def leaky(spec: ExhibitSpec, rooms: Sequence[RoomPlan], items: Sequence[Exhibited],
              chain: ChainRef, out: Path, *, built_at: datetime) -> None:  # fmt: skip
        render_standin(spec, rooms, items, chain, out, built_at=built_at)
        (out / "search.json").write_text(json.dumps({"hidden": planted.upper()}))

    out = tmp_path / "site"
    with pytest.raises(LeakFound) as caught:
        build(world, out, render=leaky)
    assert "search.json" in caught.value.message
    assert planted not in caught.value.message and planted.upper() not in caught.value.message
    assert not out.exists()
    assert list(tmp_path.iterdir()) == []  # no half-built folder, no report


def test_a_master_that_does_not_give_its_cid_fails_the_build(world: World, tmp_path: Path) -> None:
    spec = parse_spec(spec_text(world))
    choice, _ = choose(spec, world.settings)
    anchor = next(s.candidate for s in choice.shown if s.candidate.item_id == world.id("anchor"))
    with pytest.raises(IpfsError, match=f"item {anchor.item_id}: the bytes .* not the registered"):
        check_master(anchor, b"not the anchor")
    check_master(anchor, (world.folder / "files" / "anchor.png").read_bytes())
    # Registered with other import settings than the metadata says: refused too.
    wrong = dataclasses.replace(anchor, import_settings={"chunk_size": 1024, "raw_leaves": True})
    master = (world.folder / "files" / "anchor.png").read_bytes()
    assert len(master) > 1024
    with pytest.raises(IpfsError, match="not the registered"):
        check_master(wrong, master)

    # A damaged block on the node: the build fails before writing anything. (Earlier builds
    # on this data directory left which derivation each item got: a rebuild does not read the
    # masters again. Without that memory, it reads and checks them.)
    data = tmp_path / "data"
    shutil.copytree(world.settings.data_dir, data)
    shutil.rmtree(data / "exhibit-cache", ignore_errors=True)
    cid = Cid.parse(world.cids["bowl"])
    damaged = 0
    for block in (data / "blocks").rglob("*.data"):
        if block.read_bytes() == (world.folder / "files" / "bowl.png").read_bytes()[:262144]:
            block.write_bytes(b"X" + block.read_bytes()[1:])
            damaged += 1
    assert damaged == 1, cid
    copy = settings_on(world.settings, data)
    with pytest.raises(CorruptBlock):
        build_exhibit(spec, tmp_path / "site", settings=copy, render=render_standin)
    assert not (tmp_path / "site").exists()
    assert not (tmp_path / "site.report.json").exists()


def test_the_output_folder_is_checked_before_anything_is_read(world: World, tmp_path: Path) -> None:
    spec = parse_spec(spec_text(world))
    with pytest.raises(UsageError, match="data directory"):
        build_exhibit(spec, world.settings.data_dir / "site", settings=world.settings,
                      render=render_standin)  # fmt: skip
    with pytest.raises(UsageError, match="data directory"):
        build_exhibit(spec, world.settings.data_dir.parent, settings=world.settings,
                      render=render_standin)  # fmt: skip
    precious = tmp_path / "precious"
    precious.mkdir()
    (precious / "thesis.txt").write_text("years of work")
    with pytest.raises(UsageError, match="not a site built by"):
        build_exhibit(spec, precious, settings=world.settings, render=render_standin)
    assert (precious / "thesis.txt").read_text() == "years of work"
    with pytest.raises(UsageError, match="inside the site"):
        build_exhibit(spec, tmp_path / "site", settings=world.settings, render=render_standin,
                      report_path=tmp_path / "site" / "report.json")  # fmt: skip
    with pytest.raises(UsageError, match="no time zone"):
        build_exhibit(spec, tmp_path / "site", settings=world.settings, render=render_standin,
                      at=datetime(2026, 1, 1))  # fmt: skip


def test_built_at_is_at_else_source_date_epoch_else_now() -> None:
    at = datetime(2026, 5, 1, 12, tzinfo=UTC)
    assert build_moment(at, {"SOURCE_DATE_EPOCH": "1"}) == at
    assert build_moment(None, {"SOURCE_DATE_EPOCH": "1700000000"}) == datetime(
        2023, 11, 14, 22, 13, 20, tzinfo=UTC
    )
    before = datetime.now(UTC)
    assert before <= build_moment(None, {}) <= datetime.now(UTC)
    with pytest.raises(UsageError, match="SOURCE_DATE_EPOCH"):
        build_moment(None, {"SOURCE_DATE_EPOCH": "yesterday"})


def test_the_same_inputs_and_source_date_epoch_give_the_same_folder(
    world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1780000000")
    first = build(world, tmp_path / "one")
    second = build(world, tmp_path / "two")
    assert first.built_at == second.built_at == datetime.fromtimestamp(1780000000, UTC)
    files = sorted(p.relative_to(tmp_path / "one") for p in (tmp_path / "one").rglob("*"))
    assert files == sorted(p.relative_to(tmp_path / "two") for p in (tmp_path / "two").rglob("*"))
    assert site_bytes(tmp_path / "one") == site_bytes(tmp_path / "two")
    # 1780000000 s after the epoch is 2026-05-28 20:26:40 UTC (date -u -d @1780000000).
    proofs = json.loads((tmp_path / "one" / "proofs.json").read_bytes())
    assert proofs["built_at"] == "2026-05-28T20:26:40Z"


def test_progress_is_told_each_stage_and_every_item(world: World, tmp_path: Path) -> None:
    seen: list[tuple[str, int, int]] = []
    result = build_exhibit(parse_spec(spec_text(world)), tmp_path / "site",
                           settings=world.settings, render=render_standin,
                           progress=lambda *step: seen.append(step))  # fmt: skip
    shown = len(result.choice.shown)
    assert [s for s in seen if s[0] == "deriving"] == [("deriving", i, shown)
                                                      for i in range(shown + 1)]  # fmt: skip
    assert [s[0] for s in seen if s[1] == s[2]] == ["gathering", "deriving", "rendering",
                                                    "scanning"]  # fmt: skip


def test_a_closed_display_window_removes_the_item_and_the_report_says_why(
    world: World, tmp_path: Path
) -> None:
    out = tmp_path / "site"
    before = build(world, out, at=datetime(2029, 12, 31, 23, 59, tzinfo=UTC))
    assert world.id("kite-expiring") in {s.candidate.item_id for s in before.choice.shown}
    after = build(world, out, at=datetime(2030, 1, 1, tzinfo=UTC))
    assert world.id("kite-expiring") not in {s.candidate.item_id for s in after.choice.shown}
    assert [(r["id"], [w["code"] for w in r["why"]]) for r in after.report["changes"]["removed"]
            ] == [(world.id("kite-expiring"), ["window.expired"])]  # fmt: skip
    assert after.report["changes"]["added"] == []
    # The embargo of another item ends in 2100: it appears then, as newly allowed.
    later = build(world, out, at=datetime(2100, 1, 1, tzinfo=UTC))
    assert [(a["id"], a["why"][0]["code"]) for a in later.report["changes"]["added"]] == [
        (world.id("tide-embargoed"), "change.allowed")
    ]


def test_the_real_renderer_writes_the_shown_items_and_the_scan_finds_nothing_else(
    world: World, tmp_path: Path
) -> None:
    # exhibits.site.render with the stand-ins of its own tests for the parts other slices
    # still write (the gallery layout, proofs.json, the vendored assets).
    real = functools.partial(render_site, gallery=_gallery, proofs=_proofs, assets=_assets)
    out = tmp_path / "site"
    result = build_exhibit(
        parse_spec(spec_text(world, both=True)), out, settings=world.settings, render=real
    )
    pages = {p.parent.name for p in (out / "items").glob("*/index.html")}
    assert pages == {s.candidate.item_id for s in result.choice.shown}
    index = (out / "index.html").read_text("utf-8")
    for shown in result.choice.shown:
        assert f'href="items/{shown.candidate.item_id}/"' in index
    data = site_bytes(out)
    for excluded in result.choice.excluded:
        assert excluded.candidate.item_id.encode() not in data
        assert str(excluded.candidate.cid).encode() not in data
