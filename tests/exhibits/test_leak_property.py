"""Nothing of an excluded item reaches the site: random collections of every rights category,
built through the public stages, every byte of the output read.

Each example is a random mix of items (tests/exhibits/leak_support.py): public under CC BY,
CC0 and rights statements that allow, in season, public derivatives (of shown and of excluded
parents); and excluded: sealed, restricted, community-only, terms missing, terms malformed,
embargoed, expired, out of season, revoked, derivatives of a revoked parent, disputed content
(two communities), several protocols at once, in copyright, a denying label. Every excluded
item carries its own canary token in every text (title and alt text in two languages,
description, context, transcript, creator, date, subjects, place), its file name, and its
master's embedded metadata (EXIF ImageDescription, Artist, UserComment, XMP, PNG text; a
GLB's extras, node and mesh names and trimesh metadata; WAV INFO tags); every shown master
carries canaries in its metadata too, which must not survive derivation ("master-only canaries").

The collection is built through the stages as ``heritage exhibit build`` runs them:
:func:`exhibits.select.select` → the master re-checked against its CID
(:func:`exhibits.build.check_master`) → :func:`exhibits.derive.dispatch.derive_item` (the real
derivers, through a real cache) → :func:`exhibits.site.render.render_site` → the build's own
scan (:func:`exhibits.build.secrets_of`, :func:`exhibits.scan.check_clean`). Candidates are
made by hand and masters held in memory, standing in for gather (the chain and index) and
fetch (the IPFS node): that is what lets hundreds of collections of every category be built in
seconds, and those two stages are exercised for real by tests/exhibits/test_leak_cli.py, which
builds such a collection through the CLI, the chain and the node. The vendored assets are
written as empty files: they are the same library files in every site, copied byte for byte
and independent of the items (the CLI test copies and scans the real ones).

Then the site is read byte by byte (every file, every gzip/zip member): the leak scan's forms
of every excluded CID, key and text, and of every canary, find nothing; an independent search
of each canary token (UTF-8 in any case, UTF-16, base64 at each alignment, percent-encoded),
of each excluded key in hex and raw and each excluded CID finds nothing; and the item ids the
site refers to (folders, index list, search.json, gallery.json, proofs.json, IIIF, sitemap,
any id-shaped text anywhere) are exactly the allowed set, which the test computes from the
categories it generated (leak_support.ALLOWED), never by asking the policy.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import random
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Final

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from exhibits.build import check_master, secrets_of
from exhibits.derive.cache import DerivationCache
from exhibits.derive.dispatch import DeriveSettings, derive_item, kind_of
from exhibits.derive.models import ModelSettings
from exhibits.model import ChainRef, Exhibited, Kind
from exhibits.scan import Secret, check_clean, scan
from exhibits.select import select
from exhibits.site.render import render_site
from exhibits.spec import ExhibitSpec, parse_spec
from tests.exhibits.leak_support import (
    ALLOWED,
    AT,
    CATEGORIES,
    REEF,
    RIVAL,
    Item,
    ids_in,
    json_ids,
    make_item,
    site_blobs,
    token_forms,
)
from tests.exhibits.media_support import CANARY, FORMATS, make_recording
from tests.hypothesis_profiles import deep, examples
from tests.reaching import reached, reaches

CHAIN: Final = ChainRef(31337, "0x5FbDB2315678afecb367f032d93F642f64180aa3")
BASE: Final = "https://example.org/reef/"
COMMUNITIES: Final = {"Reef People": REEF, "0x" + RIVAL.hex(): RIVAL}
KINDS: Final[tuple[Kind, ...]] = ("image", "model", "audio", "other")
ORDERS: Final = ("title", "date", "registered")
#: Small model posters: the poster renderer's cost grows with its size, and the leak is the
#: same at any size (the GLB and the poster are made from the same cleaned geometry).
DERIVE: Final = DeriveSettings(model=ModelSettings(poster_px=96))


def spec(items: Sequence[Item] = (), rng: random.Random | None = None) -> ExhibitSpec:
    """The exhibit's spec: both communities selected, two languages, a base URL (so the
    sitemap and IIIF are written). With ``rng``, also a random order and rooms that name items
    by key and by CID, excluded ones among them: the curator's spec may name what the policy
    then withholds, and the site must not repeat it."""
    lines = [
        'title = { en = "Voices of the Reef", mi = "Ngā Reo o te Toka" }',
        'languages = ["en", "mi"]',
        f'base_url = "{BASE}"',
    ]
    refs = list(
        dict.fromkeys(
            ref for item in items for ref in (item.candidate.item_id, str(item.candidate.cid))
        )
    )
    rooms: list[str] = []
    select = ["[select]", f'communities = ["Reef People", "0x{RIVAL.hex()}"]']
    if rng is not None and refs:
        named = rng.sample(refs, rng.randint(1, min(len(refs), 6)))
        select.append(f"order = {json.dumps(rng.choice([*ORDERS, named]))}")
        if rng.random() < 0.5:
            rooms += ["[[room]]", 'title = "Woven"', 'subjects = ["weaving"]']
        if rng.random() < 0.5:
            chosen = rng.sample(refs, rng.randint(1, min(len(refs), 6)))
            rooms += ['[[room]]', 'title = { en = "Chosen", mi = "Kua Kōwhiria" }',
                      f"items = {json.dumps(chosen)}",
                      f"order = {json.dumps(list(reversed(chosen)))}"]  # fmt: skip
    lines += [*select, *rooms]
    return parse_spec("\n".join(lines) + "\n")


def empty_assets(out: Path) -> list[str]:
    """The vendored assets' paths, written empty (see the module docstring)."""
    apps = ("gallery", "item", "verify", "search", "mv-config", "sha256")
    paths = [
        "assets/vendor/three/three.module.js",
        "assets/vendor/model-viewer/model-viewer.min.js",
        *(f"assets/app/{name}.js" for name in apps),
    ]
    for path in paths:
        (out / path).parent.mkdir(parents=True, exist_ok=True)
        (out / path).write_bytes(b"")
    return paths


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> DerivationCache:
    return DerivationCache(tmp_path_factory.mktemp("leak-cache"))


class Recordings(list[bytes]):
    """The pool of shown recordings (a short repr: Hypothesis prints the arguments)."""

    def __repr__(self) -> str:
        return f"<{len(self)} recordings>"


@pytest.fixture(scope="module")
def recordings() -> list[bytes]:
    """Shown recordings: real files with a canary in every tag the muxer writes (and cover art
    in two of them); made once, a different one per shown recording of an example."""
    wanted = {"wav", "flac", "mp3"}
    return Recordings(make_recording(r, seconds=0.25) for r in FORMATS if r.name in wanted)


def add(
    items: list[Item], category: str, kind: Kind, rng: random.Random, pool: list[bytes]
) -> None:
    """Append an item of ``category`` (and the revoked parent of a parent-revoked derivative,
    the second community's claim on disputed content)."""
    number = len(items)
    parent = None
    if category == "parent-revoked":
        parent = make_item(number, "revoked", kind, rng)
        items.append(parent)
        number += 1
    elif category == "derivative":
        parents = [i for i in items if i.category != "revoked" and not i.rival]
        parent = rng.choice(parents) if parents else None
    if kind == "audio" and ALLOWED[category]:
        if pool:
            item = make_item(number, category, kind, rng, master=pool.pop(),
                             master_tokens=(CANARY,), parent=parent)  # fmt: skip
        else:
            item = make_item(number, category, "image", rng, parent=parent)
    else:
        item = make_item(number, category, kind, rng, parent=parent)
    items.append(item)
    if category == "disputed":
        rival = make_item(len(items), "disputed", kind, rng, community=RIVAL, rival_of=item)
        both = (*item.candidate.claims, *rival.candidate.claims)
        item.candidate = dataclasses.replace(item.candidate, claims=both)
        rival.candidate = dataclasses.replace(rival.candidate, claims=both)
        items.append(rival)


def collection(data: st.DataObject, recordings: list[bytes]) -> list[Item]:
    seed = data.draw(st.integers(0, 2**64 - 1), label="seed")
    rng = random.Random(seed)
    count = data.draw(st.integers(1, 7), label="count")
    drawn = data.draw(
        st.lists(st.tuples(st.sampled_from(CATEGORIES), st.sampled_from(KINDS)),
                 min_size=count, max_size=count), label="items")  # fmt: skip
    pool = list(recordings)
    rng.shuffle(pool)
    items: list[Item] = []
    for category, kind in drawn:
        add(items, category, kind, rng, pool)
    rng.shuffle(items)
    return items


def build(
    items: list[Item], out: Path, cache: DerivationCache, the_spec: ExhibitSpec | None = None
) -> list[Exhibited]:
    """The stages of ``heritage exhibit build`` from gather's output to the scan."""
    the_spec = the_spec or spec()
    choice = select(the_spec, [i.candidate for i in items], AT, COMMUNITIES)
    node = {bytes(i.candidate.cid): i.master for i in items}  # the IPFS node, in memory
    exhibited = []
    for shown in choice.shown:
        c = shown.candidate
        master = node[bytes(c.cid)]
        check_master(c, master)
        files = derive_item(kind_of(c.media_type, c.file_name), master, c.file_name,
                            c.media_type, cache, DERIVE)  # fmt: skip
        exhibited.append(Exhibited(shown, files))
    out.mkdir()
    render_site(the_spec, choice.rooms, exhibited, CHAIN, out, built_at=AT, assets=empty_assets)
    check_clean(
        out, secrets_of([e.candidate for e in choice.excluded], [s.candidate for s in choice.shown])
    )
    return exhibited


def our_secrets(items: list[Item]) -> list[Secret]:
    """The test's own secrets: every excluded item's CID, key, canaried texts and token, and
    every master-only canary."""
    secrets: list[Secret] = []
    for number, item in enumerate(items):
        label = f"{item.category} item {number}"
        for token in item.master_tokens:
            secrets.append(Secret.text(label + " (master metadata)", token))
        if item.allowed:
            continue
        c = item.candidate
        secrets += [Secret.cid(label, c.cid), Secret.key(label, c.key),
                    Secret.text(label, item.token)]  # fmt: skip
        secrets += [Secret.text(label, t) for t in item.texts if item.token in t]
        if c.file_name:
            secrets += Secret.file_name(label, c.file_name)
    return secrets


def check_site(items: list[Item], out: Path, exhibited: list[Exhibited]) -> None:
    allowed = {i.candidate.item_id for i in items if i.allowed}
    excluded = [i for i in items if not i.allowed]

    # The leak scan's forms of everything secret: nothing.
    assert scan(out, our_secrets(items)) == []

    # An independent search of every byte, every member.
    tokens = {t for i in items for t in i.master_tokens} | {i.token for i in excluded}
    forms = {t: token_forms(t) for t in tokens}
    needles: list[tuple[str, bytes, bool]] = []  # (what, bytes, search lower-cased)
    for token, by_name in forms.items():
        needles += [(f"{token} {name}", f, name == "utf-8") for name, f in by_name.items()]
    for item in excluded:
        c = item.candidate
        needles += [
            (f"key of {item.category}", c.key.hex().encode(), True),
            (f"raw key of {item.category}", c.key, False),
            (f"CID of {item.category}", str(c.cid.to_v1()).encode(), True),
            (f"CID digest of {item.category}", c.cid.digest.hex().encode(), True),
        ]
    blobs = list(site_blobs(out))
    for path, blob in blobs:
        folded = blob.lower()
        for what, needle, fold in needles:
            assert needle not in (folded if fold else blob), f"{what} in {path}"

    # The items the site refers to: exactly the allowed set, wherever ids are written.
    files = {p: b for p, b in blobs}
    folders = out / "items"
    assert ({p.name for p in folders.iterdir()} if folders.exists() else set()) == allowed
    search = json.loads(files["search.json"])
    assert {entry["id"] for entry in search["items"]} == allowed
    assert json_ids(json.loads(files["gallery.json"])) == allowed
    proofs = json.loads(files["proofs.json"])
    assert set(proofs["items"]) == allowed
    images = {e.item_id for e in exhibited if e.files.kind == "image"}
    manifests = {p.split("/")[1] for p in files if p.startswith("iiif/0x")}
    assert manifests == images
    if "iiif/collection.json" in files:
        assert json_ids(json.loads(files["iiif/collection.json"])) == images
    else:
        assert not images
    assert ids_in(files["sitemap.xml"]) == allowed
    index = files["index.html"]
    assert ids_in(index) == allowed
    count = len(allowed)
    assert f">{count} item{'' if count == 1 else 's'}</p>".encode() in index
    assert b"1890s" not in index  # an excluded item's era is no filter option
    # Besides item ids, a site names the shown items' community and registering transactions;
    # the second community of disputed content is never named (nothing of it is shown).
    known = {"0x" + REEF.hex()}
    known |= {e.candidate.transaction for e in exhibited if e.candidate.transaction}
    everywhere = set().union(*(ids_in(b) for _, b in blobs))
    assert everywhere - known == allowed


@reaches(0.9)
@settings(
    # 500 under make test-deep; 60 under make test (about 10 s on an idle core).
    max_examples=500 if deep() else examples(300),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                           HealthCheck.data_too_large],
)  # fmt: skip
@given(data=st.data())
def test_nothing_of_an_excluded_item_reaches_the_site(
    tmp_path_factory: pytest.TempPathFactory,
    cache: DerivationCache,
    recordings: list[bytes],
    data: st.DataObject,
) -> None:
    items = collection(data, recordings)
    the_spec = spec(items, random.Random(data.draw(st.integers(0, 2**32), label="spec seed")))
    out = tmp_path_factory.mktemp("leak") / "site"
    exhibited = build(items, out, cache, the_spec)
    # The pipeline shows what the test's own oracle allows: no more, no less.
    assert {e.item_id for e in exhibited} == {i.candidate.item_id for i in items if i.allowed}
    check_site(items, out, exhibited)
    reached()
    shutil.rmtree(out.parent)  # hundreds of examples: keep only a failing one's site


def test_every_category_and_kind_is_generated_and_the_oracle_agrees_on_one_of_each(
    tmp_path: Path, cache: DerivationCache, recordings: list[bytes]
) -> None:
    # One collection holding every category once (each kind at least once), built and read:
    # so every category is known to be reached, whatever the random draws above.
    rng = random.Random(12)
    items: list[Item] = []
    pool = list(recordings)
    for n, category in enumerate(CATEGORIES):
        add(items, category, KINDS[n % len(KINDS)], rng, pool)
    exhibited = build(items, tmp_path / "x", cache)
    assert {e.item_id for e in exhibited} == {i.candidate.item_id for i in items if i.allowed}
    assert {e.files.kind for e in exhibited} == set(KINDS)
    check_site(items, tmp_path / "x", exhibited)


def test_the_independent_search_finds_a_planted_canary_in_every_form(tmp_path: Path) -> None:
    # The reader above must be able to fail: each form of a token, planted in a file, a gzip
    # member and a zip member, is found by it.
    import gzip
    import io
    import zipfile

    token = "cnry007x0123456789abcdef"
    for name, form in token_forms(token).items():
        site = tmp_path / name.replace(" ", "_")
        site.mkdir()
        (site / "a.bin").write_bytes(b"xx" + form.upper() if name == "utf-8" else b"xx" + form)
        (site / "b.json.gz").write_bytes(gzip.compress(b"{}" + form))
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            archive.writestr("m/c.txt", b"." + form)
        (site / "c.zip").write_bytes(buffer.getvalue())
        found = {p for p, b in site_blobs(site)
                 if any(f in (b.lower() if n == "utf-8" else b)
                        for n, f in token_forms(token).items())}  # fmt: skip
        assert found == {"a.bin", "b.json.gz!", "c.zip!m/c.txt"}, name
    # base64 of the token inside a longer text, at each alignment, is one of the forms.
    import base64

    for prefix in (b"", b"a", b"ab"):
        encoded = base64.b64encode(prefix + token.encode() + b"tail")
        assert any(core in encoded for core in
                   (token_forms(token)[f"base64 ({i})"] for i in range(3)))  # fmt: skip


def test_the_site_reader_fails_on_a_planted_leak(
    tmp_path: Path, cache: DerivationCache, recordings: list[bytes]
) -> None:
    # The checks above must be able to fail: a clean build passes them, and each planted
    # trace of an excluded item (or of a shown master's metadata) fails them.
    rng = random.Random(7)
    items: list[Item] = []
    pool = list(recordings)
    for n, category in enumerate(("cc-by", "embargoed", "sealed", "cc0", "revoked")):
        add(items, category, KINDS[n % len(KINDS)], rng, pool)
    clean = tmp_path / "clean"
    exhibited = build(items, clean, cache)
    check_site(items, clean, exhibited)
    embargoed = next(i for i in items if i.category == "embargoed")
    sealed = next(i for i in items if i.category == "sealed")
    shown_master = next(i for i in items if i.allowed and i.master_tokens)
    image = next(p for p in clean.rglob("*") if p.suffix in (".jpg", ".png", ".jpeg"))
    plants = {
        "a token in base64 in a derived file": (
            image.relative_to(clean).as_posix(),
            base64.b64encode(b"xy" + embargoed.token.encode()),
        ),
        "a sealed item's id in the sitemap": ("sitemap.xml", sealed.candidate.item_id.encode()),
        "a master's metadata in UTF-16": (
            "gallery.json",
            shown_master.master_tokens[0].encode("utf-16-le"),
        ),
        "an excluded CID in upper case": ("robots.txt", str(sealed.candidate.cid).upper().encode()),
    }
    for what, (path, planted) in plants.items():
        site = tmp_path / what.replace(" ", "-")
        shutil.copytree(clean, site)
        with (site / path).open("ab") as file:
            file.write(planted)
        with pytest.raises(AssertionError):
            check_site(items, site, exhibited)
