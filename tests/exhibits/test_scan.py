"""The leak scan: every form of an excluded item's CID, key, title and file name is found in a
site's files (plain, in a PNG chunk, across a chunk boundary, inside gzip and zip), nothing is
found in a clean site, and no hit or error ever shows a secret's value."""

from __future__ import annotations

import gzip
import html
import json
import os
import re
import struct
import urllib.parse
import zipfile
import zlib
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from exhibits import scan as scan_module
from exhibits.scan import (
    MIN_TEXT_LENGTH,
    Secret,
    check_clean,
    forbidden_forms,
    scan,
)
from exhibits.site.assets import asset_files
from ledger.errors import ExitCode, LeakFound, NoSuchFile, UsageError
from ledger.ipfs.cid import DAG_PB, RAW, Cid
from tests.hypothesis_profiles import examples
from tests.reaching import reached, reaches

CID = Cid.for_block(b"a sacred song", DAG_PB, 0)
KEY = bytes(range(100, 132))
TITLE = 'Ngā Waiata o te Pō "tapu" & <kept>'
SECRETS = [
    Secret.cid("excluded item 1", CID),
    Secret.key("excluded item 1", KEY),
    Secret.text("excluded item 1", TITLE),
    *Secret.file_name("excluded item 1", "masters/Ceremony_Night.tif"),
]
PAGE = b"<!doctype html><html><body><h1>A public exhibit</h1><p>Open items only.</p></body></html>"


def _site(tmp_path: Path, files: dict[str, bytes]) -> Path:
    site = tmp_path / "site"
    for name, data in files.items():
        (site / name).parent.mkdir(parents=True, exist_ok=True)
        (site / name).write_bytes(data)
    site.mkdir(exist_ok=True)
    return site


def _png_with_text(keyword: bytes, text: bytes) -> bytes:
    """A 1×1 PNG with a tEXt chunk, written by hand."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    ihdr = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00\xff\x00\x00")
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"tEXt", keyword + b"\x00" + text)
        + chunk(b"IDAT", idat)
        + chunk(b"IEND", b"")
    )


def _no_value_in(text: str) -> None:
    for secret in SECRETS:
        for form in forbidden_forms(secret):
            assert form.pattern not in text.encode(), form.name


def test_a_clean_site_has_no_hits(tmp_path: Path) -> None:
    site = _site(tmp_path, {
        "index.html": PAGE,
        "data/items.json": json.dumps({"items": [{"title": "An open song"}]}).encode(),
        "img/a.png": _png_with_text(b"Comment", b"open"),
        "bundle.js.gz": gzip.compress(b"console.log('open')"),
    })  # fmt: skip
    assert scan(site, SECRETS) == []
    check_clean(site, SECRETS)


@pytest.mark.parametrize("secret", SECRETS, ids=lambda s: s.kind)
def test_every_form_is_found_in_html(tmp_path: Path, secret: Secret) -> None:
    forms = forbidden_forms(secret)
    assert forms
    for i, form in enumerate(forms):
        data = PAGE[:40] + form.pattern + PAGE[40:]
        site = _site(tmp_path / str(i), {"rooms/one.html": data})
        hits = scan(site, [secret])
        assert [(h.path, h.offset, h.label) for h in hits][:1] == [
            ("rooms/one.html", 40, "excluded item 1")
        ], form.name
        # the longest form at a position wins, so some forms report a longer one that holds them
        assert hits[0].form == form.name or form.pattern in next(
            f.pattern for f in forms if f.name == hits[0].form
        )


def test_the_named_forms_are_all_there() -> None:
    cid_forms = {f.name: f.pattern for f in forbidden_forms(SECRETS[0])}
    v1 = CID.to_v1()
    assert cid_forms["CIDv0"] == str(CID).encode()
    assert cid_forms["CIDv1 base32"] == str(v1).encode()
    assert cid_forms["CIDv1 base58btc"].startswith(b"z")
    assert cid_forms["CIDv1 base36"].startswith(b"k")
    raw = Cid.for_block(b"x", RAW)
    assert "CIDv0" in {f.name for f in forbidden_forms(Secret.cid("r", raw))}  # same multihash
    key_forms = {f.pattern for f in forbidden_forms(SECRETS[1])}
    assert {b"0x" + KEY.hex().encode(), KEY.hex().encode(), KEY} <= key_forms
    text = {f.pattern for f in forbidden_forms(SECRETS[2])}
    for variant in (
        TITLE,
        html.escape(TITLE, quote=True),
        json.dumps(TITLE)[1:-1],
        json.dumps(TITLE, ensure_ascii=False)[1:-1],
        urllib.parse.quote(TITLE),
        urllib.parse.quote_plus(TITLE),
    ):
        assert variant.encode() in text
        assert variant.encode("utf-16-le") in text
    names = {f.pattern for s in SECRETS[3:] for f in forbidden_forms(s)}
    assert {b"Ceremony_Night.tif", b"Ceremony_Night"} <= names


@pytest.mark.parametrize(
    "spelling", [KEY.hex().upper(), "0x" + KEY.hex().upper(), "0X" + KEY.hex()]
)
def test_hex_and_base32_are_found_in_any_case(tmp_path: Path, spelling: str) -> None:
    site = _site(tmp_path, {
        "a.json": b'{"key": "' + spelling.encode() + b'"}',
        "b.html": str(CID.to_v1()).upper().encode(),
    })  # fmt: skip
    hits = scan(site, SECRETS)
    assert {h.path for h in hits} == {"a.json", "b.html"}


def test_nfd_title_in_json_is_found(tmp_path: Path) -> None:
    import unicodedata

    decomposed = json.dumps({"t": unicodedata.normalize("NFD", TITLE)}, ensure_ascii=False)
    site = _site(tmp_path, {"items.json": decomposed.encode()})
    assert [h.label for h in scan(site, SECRETS)] == ["excluded item 1"]


def test_a_png_text_chunk_is_searched(tmp_path: Path) -> None:
    site = _site(tmp_path, {"img/x.png": _png_with_text(b"Title", TITLE.encode())})
    (hit,) = scan(site, SECRETS)
    assert hit.path == "img/x.png" and hit.form == "text NFC"


def test_a_form_across_a_chunk_boundary_is_found_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(scan_module, "CHUNK_SIZE", 64)
    pattern = str(CID).encode()
    for at in range(64 - len(pattern), 64 + 2):
        data = b"." * at + pattern + b"." * 100
        site = _site(tmp_path / str(at), {"x.txt": data})
        assert [(h.offset, h.form) for h in scan(site, SECRETS)] == [(at, "CIDv0")]


def test_gzip_and_zip_members_are_searched(tmp_path: Path) -> None:
    inner = b"var items = ['" + KEY.hex().encode() + b"'];"
    archive = tmp_path / "a.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("data/items.json", b'{"title": "' + TITLE.encode() + b'"}')
    site = _site(tmp_path, {
        "app.js.gz": gzip.compress(inner),
        "download/all.zip": archive.read_bytes(),
    })  # fmt: skip
    hits = scan(site, SECRETS)
    assert {(h.path, h.form) for h in hits} == {
        ("app.js.gz!", "hex"),
        ("download/all.zip!data/items.json", "text NFC"),
    }


def test_a_broken_gzip_fails_closed(tmp_path: Path) -> None:
    site = _site(tmp_path, {"x.gz": gzip.compress(b"hello")[:12]})
    with pytest.raises(LeakFound, match=r"x\.gz starts as a compressed file"):
        scan(site, SECRETS)


def test_short_texts_are_not_searched() -> None:
    assert MIN_TEXT_LENGTH == 4
    assert forbidden_forms(Secret.text("i", "Map")) == []
    assert forbidden_forms(Secret.text("i", "  Map  ")) == []  # trimmed first
    assert forbidden_forms(Secret.text("i", "Maps"))
    assert Secret.file_name("i", "a.b") == [Secret.text("i", "a.b"), Secret.text("i", "a")]
    assert [f for s in Secret.file_name("i", "a.b") for f in forbidden_forms(s)] == []


def test_a_symlink_is_an_error_that_names_it_not_its_target(tmp_path: Path) -> None:
    outside = tmp_path / "Ceremony_Night.tif"
    outside.write_bytes(b"master")
    site = _site(tmp_path, {"index.html": PAGE})
    os.symlink(outside, site / "img.tif")
    with pytest.raises(LeakFound, match=r"symbolic link, img\.tif") as caught:
        scan(site, SECRETS)
    assert "Ceremony" not in str(caught.value)
    os.remove(site / "img.tif")
    os.symlink(site / "index.html", site / "again.html")  # even inside the site
    with pytest.raises(LeakFound, match=r"again\.html"):
        scan(site, SECRETS)


def test_a_special_file_is_an_error(tmp_path: Path) -> None:
    site = _site(tmp_path, {"index.html": PAGE})
    os.mkfifo(site / "pipe")
    with pytest.raises(LeakFound, match="pipe, which is neither a file nor a folder"):
        scan(site, SECRETS)


def test_lower_case_url_escapes_are_found(tmp_path: Path) -> None:
    url = re.sub(r"%[0-9A-F]{2}", lambda m: m.group().lower(), urllib.parse.quote(TITLE))
    site = _site(tmp_path, {"index.html": b'<a href="/items/' + url.encode() + b'">'})
    assert [h.form for h in scan(site, SECRETS)] == ["URL-encoded (lower-case escapes) NFC"]


def test_a_missing_folder_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(NoSuchFile, match="not a folder"):
        scan(tmp_path / "absent", SECRETS)
    with pytest.raises(UsageError, match="has 3 bytes, not 32"):
        Secret.key("item 9", b"abc")


def test_check_clean_names_labels_never_values(tmp_path: Path) -> None:
    site = _site(tmp_path, {"index.html": PAGE + html.escape(TITLE).encode() + str(CID).encode()})
    with pytest.raises(LeakFound) as caught:
        check_clean(site, SECRETS)
    error = caught.value
    assert error.exit_code == ExitCode.FAILURE and error.code == "leak_found"
    assert len(error.hits) == 2 and "excluded item 1" in str(error)
    assert "index.html at byte" in str(error)
    _no_value_in(str(error))
    _no_value_in(repr(error.hits))
    _no_value_in(repr(SECRETS))


TEXTS = st.text(
    alphabet=st.characters(blacklist_categories=["Cs"]), min_size=MIN_TEXT_LENGTH, max_size=30
).filter(lambda t: len(t.strip()) >= MIN_TEXT_LENGTH)


@reaches(0.8)
@settings(max_examples=examples(50), deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])  # fmt: skip
@given(TEXTS, st.data(), st.binary(max_size=3000))
def test_a_planted_text_is_found_and_an_absent_one_is_not(
    tmp_path: Path, text: str, data: st.DataObject, noise: bytes
) -> None:
    secret = Secret.text("excluded item 7", text)
    forms = forbidden_forms(secret)
    # The absent case: noise that holds no form at all (and no compressed file's magic).
    # Every compressed format the scan opens starts with one of these bytes (gzip, zip, xz,
    # bzip2, zstd): without them the noise is never taken for a compressed file.
    for lead in (b"\x1f", b"P", b"\xfd", b"B", b"\x28"):
        noise = noise.replace(lead, b"")
    for form in forms:
        noise = noise.replace(form.pattern, b"")
    if any(form.pattern in noise for form in forms):
        return  # removing one form made another: rare, and not this test's case
    site = _site(tmp_path / "clean", {"noise.bin": noise})
    assert scan(site, [secret]) == []
    form = data.draw(st.sampled_from(forms))
    at = data.draw(st.integers(0, len(noise)))
    planted = noise[:at] + form.pattern + noise[at:]
    site = _site(tmp_path / "planted", {"noise.bin": planted})
    hits = scan(site, [secret])
    assert hits and hits[0].label == "excluded item 7"
    longest = max(len(f.pattern) for f in forms)
    assert any(abs(h.offset - at) <= longest for h in hits)
    reached()


def test_vendored_files_are_searched_for_ids_only_and_only_while_they_are_unchanged(
    tmp_path: Path,
) -> None:
    # An excluded title that is a common word is in three.js itself: the pinned libraries
    # cannot hold an item, so their unchanged bytes are searched for CIDs and keys only.
    files = asset_files()
    site = tmp_path / "site"
    for relative, data in files.items():
        (site / relative).parent.mkdir(parents=True, exist_ok=True)
        (site / relative).write_bytes(data)
    common = Secret.text("excluded", "Light")
    assert any(h.path == "assets/vendor/three/three.core.js" for h in scan(site, [common]))
    assert scan(site, [common], fixed=files) == []
    # The same path with other bytes is searched for everything.
    changed = site / "assets/vendor/three/three.core.js"
    changed.write_bytes(changed.read_bytes() + b"\n// Light of the reef\n")
    assert {h.path for h in scan(site, [common], fixed=files)} == {
        "assets/vendor/three/three.core.js"
    }
    # A CID is searched for even in a file whose bytes are the fixed ones.
    cid = CID
    planted = {"assets/app/extra.js": b"const x = '" + str(cid).encode() + b"';\n"}
    (site / "assets/app/extra.js").write_bytes(planted["assets/app/extra.js"])
    hits = scan(site, [Secret.cid("excluded", cid), common], fixed=files | planted)
    assert {(h.path, h.label) for h in hits} >= {("assets/app/extra.js", "excluded")}
    assert all(h.path != "assets/app/extra.js" or "CID" in h.form for h in hits)
