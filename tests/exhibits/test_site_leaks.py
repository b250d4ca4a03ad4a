"""The renderer and the leak scan together: a rendered site holds every form of its shown
items that the scan knows (so the scan reads the renderer's output), and nothing of an item
that was not handed to the renderer."""

from __future__ import annotations

from pathlib import Path

from exhibits.scan import Secret, scan
from ledger.ipfs.cid import Cid
from tests.exhibits.site_support import exhibited, render, spec_of


def _secrets(label: str, key: bytes, cid: Cid, title: str, file_name: str) -> list[Secret]:
    return [
        Secret.key(label, key),
        Secret.cid(label, cid),
        Secret.text(label, title),
        *Secret.file_name(label, file_name),
    ]


def test_the_scan_finds_a_shown_item_everywhere_it_is_rendered(tmp_path: Path) -> None:
    shown = exhibited(
        1, kind="image", description={"title": {"en": "Ngā Waiata o te Pō"}}, file_name="waiata.tif"
    )
    site = render(tmp_path / "out", [shown], spec_of(base_url="https://example.org/reef/"))
    candidate = shown.candidate
    hits = scan(
        site, _secrets("shown", candidate.key, candidate.cid, "Ngā Waiata o te Pō", "x.tif")
    )
    found = {(hit.path, hit.form.split(" ")[0]) for hit in hits}
    page = f"items/{shown.item_id}/index.html"
    for path in ("index.html", page, "search.json", f"iiif/{shown.item_id}/manifest.json"):
        assert any(p == path for p, _ in found), path
    assert {form for _, form in found} >= {"text", "0x", "CIDv1"}


def test_an_item_not_handed_to_the_renderer_leaves_nothing(tmp_path: Path) -> None:
    shown = [exhibited(1, kind="image"), exhibited(2, kind="model"), exhibited(3, kind="audio")]
    excluded = exhibited(
        9,
        kind="image",
        description={"title": {"en": "A sacred song, not for display"}},
        file_name="ceremony-night.wav",
    ).candidate
    site = render(tmp_path / "out", shown, spec_of(("en", "mi"), base_url="https://example.org/"))
    secrets = _secrets(
        "excluded", excluded.key, excluded.cid, "A sacred song, not for display", excluded.file_name
    )
    assert scan(site, secrets) == []


def test_the_scan_finds_a_title_with_markup_characters_in_every_page(tmp_path: Path) -> None:
    # jinja2 writes quotes as &#34; and &#39;, the JSON-LD writes < > & as \u003c …: the scan
    # must know those forms, or a title with such characters would escape it in the pages.
    title = "Tā \"Moko\" <Kōrero> & 'Waiata'"
    shown = exhibited(1, kind="image", description={"title": {"en": title}}, file_name="m.tif")
    site = render(tmp_path / "out", [shown], spec_of(base_url="https://example.org/reef/"))
    paths = {hit.path for hit in scan(site, [Secret.text("shown", title)])}
    for path in ("index.html", f"items/{shown.item_id}/index.html", "search.json"):
        assert path in paths, path
