"""The leak scan's harder cases: compressed content that expands too far or nests too deep
fails closed ("could not be checked"); xz, bzip2 and nested archives are searched; a text is
found in any case and in any Unicode normalisation; and each form in which the renderer (or an
ASCII-only writer) could write an excluded item's text is found: numeric character
references, XML's ``&apos;``, JSON's escaped solidus.

The expected forms are written here from the standards (HTML numeric character references,
XML predefined entities, RFC 8259 escapes, Unicode case mappings and compatibility
normalisation), not taken from the scan's own output.
"""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import unicodedata
import zipfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from exhibits import scan as scan_module
from exhibits.scan import MAX_NESTING, Secret, check_clean, scan
from exhibits.site.render import render_site
from ledger.errors import LeakFound
from tests.exhibits.site_support import (
    BUILT_AT,
    CHAIN,
    _assets,
    _gallery,
    _proofs,
    exhibited,
    spec_of,
)
from tests.hypothesis_profiles import examples
from tests.reaching import reached, reaches

TITLE = "Ngā Waiata o te Pō: 'tapu' / kept"
SECRET = Secret.text("excluded item 1", TITLE)
PAGE = b"<!doctype html><html><body><p>An open exhibit.</p></body></html>"


def _site(tmp_path: Path, files: dict[str, bytes]) -> Path:
    site = tmp_path / "site"
    site.mkdir(parents=True, exist_ok=True)
    for name, data in files.items():
        (site / name).parent.mkdir(parents=True, exist_ok=True)
        (site / name).write_bytes(data)
    return site


def _zip(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


# ---- compressed content -----------------------------------------------------------------------


def test_a_gzip_bomb_fails_closed_at_the_cap(tmp_path: Path) -> None:
    bomb = gzip.compress(b"\0" * (8 << 20))  # 8 MiB of zeros in about 8 KiB
    assert len(bomb) < 100_000
    site = _site(tmp_path, {"index.html": PAGE, "data.json.gz": bomb})
    with pytest.raises(LeakFound, match=r"data\.json\.gz expands to more than 1048576 bytes") as e:
        check_clean(site, [SECRET], max_expanded=1 << 20)
    assert "could not be checked" in str(e.value)
    assert scan(site, [SECRET], max_expanded=16 << 20) == []  # under a higher cap: clean


def test_a_zip_bomb_fails_closed_whether_its_sizes_are_told_or_not(tmp_path: Path) -> None:
    honest = _zip({"a.txt": b"\0" * (4 << 20), "b.txt": b"\0" * (4 << 20)})
    site = _site(tmp_path / "honest", {"bundle.zip": honest})
    with pytest.raises(LeakFound, match="could not be checked"):
        scan(site, [SECRET], max_expanded=6 << 20)  # each member fits, both do not
    # A member whose header understates its size: stopped while reading, not by the header.
    lying = bytearray(_zip({"a.txt": b"\0" * (4 << 20)}))
    central = lying.rindex(b"PK\x01\x02")
    lying[central + 24 : central + 28] = (10).to_bytes(4, "little")  # uncompressed size
    site = _site(tmp_path / "lying", {"bundle.zip": bytes(lying)})
    with pytest.raises(LeakFound, match="could not be checked"):
        scan(site, [SECRET], max_expanded=1 << 20)


def test_nested_archives_are_searched_and_too_deep_fails_closed(tmp_path: Path) -> None:
    inner = gzip.compress(PAGE + TITLE.encode())
    site = _site(tmp_path / "nested", {"outer.zip": _zip({"deep/inner.html.gz": inner})})
    (hit,) = scan(site, [SECRET])
    assert hit.path == "outer.zip!deep/inner.html.gz!" and hit.form == "text NFC"
    data = TITLE.encode()
    for _ in range(MAX_NESTING + 1):
        data = gzip.compress(data)
    site = _site(tmp_path / "deep", {"x.gz": data})
    with pytest.raises(LeakFound, match=f"nested more than {MAX_NESTING} deep"):
        scan(site, [SECRET])


@pytest.mark.parametrize(
    ("name", "packed"),
    [("page.html.xz", lzma.compress), ("page.html.bz2", bz2.compress)],
)
def test_xz_and_bzip2_are_searched(tmp_path: Path, name: str, packed: object) -> None:
    assert callable(packed)
    site = _site(tmp_path, {name: packed(PAGE + TITLE.encode())})
    assert [h.path for h in scan(site, [SECRET])] == [name + "!"]


def test_zstandard_and_a_broken_xz_fail_closed(tmp_path: Path) -> None:
    site = _site(tmp_path / "zstd", {"a.js.zst": b"\x28\xb5\x2f\xfd" + b"\0" * 20})
    with pytest.raises(LeakFound, match=r"Zstandard.*could not be checked"):
        scan(site, [SECRET])
    site = _site(tmp_path / "xz", {"a.xz": lzma.compress(b"x" * 100)[:20]})
    with pytest.raises(LeakFound, match="cannot be decompressed"):
        scan(site, [SECRET])


def test_a_compressed_file_is_read_in_chunks_across_boundaries(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(scan_module, "CHUNK_SIZE", 64)
    data = b"x" * 50 + TITLE.encode() + b"y" * 500
    site = _site(tmp_path, {"a.gz": gzip.compress(data), "b.zip": _zip({"m": data})})
    hits = scan(site, [SECRET])
    assert [(h.path, h.offset) for h in hits] == [("a.gz!", 50), ("b.zip!m", 50)]


# ---- case and normalisation ---------------------------------------------------------------


@pytest.mark.parametrize(
    "written",
    [
        TITLE.upper(),  # "NGĀ WAIATA O TE PŌ": a heading's source text in capitals
        TITLE.lower(),  # a slug maker's first step
        "NGā waiata O TE pō: 'TAPU' / KEPT",  # ASCII letters changed, the others not
        unicodedata.normalize("NFD", TITLE.upper()),
    ],
)
def test_a_title_is_found_in_another_case(tmp_path: Path, written: str) -> None:
    site = _site(tmp_path, {"sitemap.xml": b"<loc>" + written.encode() + b"</loc>"})
    (hit,) = scan(site, [SECRET])
    assert hit.offset == 5 and hit.label == "excluded item 1"


def test_a_title_is_found_in_compatibility_normalisation(tmp_path: Path) -> None:
    title = "Ｔｈｅ ﬁsh-hook of Māui"  # full-width letters and the "fi" ligature
    written = "The fish-hook of Māui"  # NFKC, as a search-key or slug maker writes it
    assert unicodedata.normalize("NFKC", title) == written
    site = _site(tmp_path, {"search.json": b'{"k":"' + written.encode() + b'"}'})
    assert [h.form for h in scan(site, [Secret.text("x", title)])] == ["text NFKC"]


def test_case_does_not_matter_for_forms_whose_case_is_meaningful_only_as_written(
    tmp_path: Path,
) -> None:
    # base58 and base64 are case-sensitive: another case is another value, not this secret.
    key = bytes(range(1, 33))
    import base64

    other_case = base64.b64encode(key).rstrip(b"=").swapcase()
    site = _site(tmp_path, {"a.txt": other_case})
    assert scan(site, [Secret.key("k", key)]) == []


# ---- the forms a writer could use -------------------------------------------------------------


@pytest.mark.parametrize(
    ("form", "written"),
    [
        # HTML/XML numeric character references, as an ASCII-only writer writes them
        ("hex", "Ng&#x101; Waiata o te P&#x14d;: &#x27;tapu&#x27; / kept"),
        ("hex, upper-case digits", "Ng&#x101; Waiata o te P&#x14D;: &#X27;tapu&#X27; / kept"),
        ("decimal", "Ng&#257; Waiata o te P&#333;: &#39;tapu&#39; / kept"),
        # XML's predefined entity for the apostrophe (xml.sax.saxutils, sitemaps)
        ("XML apostrophe", "Ngā Waiata o te Pō: &apos;tapu&apos; / kept"),
        # JSON's optional escape of "/" (RFC 8259 §7), with and without \\u escapes
        ("escaped solidus", "Ngā Waiata o te Pō: 'tapu' \\/ kept"),
        ("escaped solidus, ASCII", "Ng\\u0101 Waiata o te P\\u014d: 'tapu' \\/ kept"),
    ],
)
def test_each_escaped_form_is_found(tmp_path: Path, form: str, written: str) -> None:
    site = _site(tmp_path, {"page.html": PAGE[:30] + written.encode() + PAGE[30:]})
    hits = scan(site, [SECRET])
    assert [(h.offset, h.label) for h in hits] == [(30, "excluded item 1")], form


TITLE_TEXT = st.text(
    alphabet=st.characters(blacklist_categories=["Cs", "Cc"]) | st.sampled_from("<>&\"'/\\\u2028"),
    max_size=20,
)


@reaches(0.9)
@settings(max_examples=examples(60), deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])  # fmt: skip
@given(before=TITLE_TEXT, after=TITLE_TEXT)
def test_every_file_the_renderer_writes_a_title_into_is_found(
    tmp_path_factory: pytest.TempPathFactory, before: str, after: str
) -> None:
    # Every place the real renderer writes an item's title, in whatever escaping it uses
    # there (HTML text and attributes, JSON, JSON-LD in a script, IIIF, gallery), is found by
    # the scan. Which files hold the title is told by a marker word inside it, which no
    # escaper changes: a file holding the marker holds the title in some form.
    title = f"{before} Zqxmarker {after}"
    shown = exhibited(1, kind="image", description={"title": {"en": title}}, file_name="m.tif")
    out = tmp_path_factory.mktemp("render") / "out"
    out.mkdir()
    render_site(spec_of(base_url="https://example.org/r/"), [], [shown], CHAIN, out,
                built_at=BUILT_AT, gallery=_gallery, proofs=_proofs, assets=_assets)  # fmt: skip
    written = {p.relative_to(out).as_posix() for p in out.rglob("*")
               if p.is_file() and b"zqxmarker" in p.read_bytes().lower()}  # fmt: skip
    assert {"index.html", "search.json", "gallery.json"} <= written
    found = {h.path for h in scan(out, [Secret.text("shown", title)])}
    assert written <= found, written - found
    reached()
