"""The rendered pages, read back with an HTML parser: the DOM contract the front-end scripts
rely on, links that resolve inside the folder, no URL outside the origin, the CSP with the
hash of every inline script, accessibility structure, determinism, and clear refusals."""

from __future__ import annotations

import base64
import hashlib
import itertools
import json
import re
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path, PurePosixPath
from typing import Any

import pytest

from exhibits.derive.records import DerivedFile
from exhibits.model import ChainRef, Exhibited, Kind, Lineage, RoomPlan
from exhibits.site.context import language_name
from exhibits.site.csp import script_hash
from ledger.errors import UsageError
from tests.exhibits.site_support import (
    BUILT_AT,
    CHAIN,
    COMMUNITY,
    Node,
    exhibited,
    files_for,
    parse_html,
    render,
    spec_of,
)
from tests.rights_support import public_terms

DESCRIBED = {
    "title": {"en": "Carved prow", "mi": "Tauihu"},
    "description": {"en": "A prow.\n\nCarved in the 1890s."},
    "alt_text": {"en": "A carved canoe prow, red and black"},
    "context": {"mi": "Nā te iwi."},
    "transcript": {"en": "The words of the song."},
    "creator": "Reef carvers",
    "date": "c. 1897",
    "subjects": ["carving", "waka"],
    "place": {"name": "Reef Bay", "lat": -41.2, "lon": 174.7},
}
KINDS: tuple[Kind, ...] = ("model", "image", "audio", "video", "other")


def _items() -> list[Exhibited]:
    items = [exhibited(n + 1, kind=kind, description=DESCRIBED) for n, kind in enumerate(KINDS)]
    items.append(exhibited(9, kind="image", description={"title": {"mi": "Kete"}}))
    items.append(exhibited(10, kind="other", file_name="song-sheet.pdf"))
    return items


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return render(tmp_path_factory.mktemp("site") / "out", _items(), spec_of(("en", "mi")))


def _page(site: Path, path: str) -> Node:
    return parse_html((site / path).read_bytes())


def _item_path(number: int) -> str:
    return f"items/0x{bytes([number]).hex() * 32}/index.html"


def _visible(node: Node) -> bool:
    return all("hidden" not in a.attrs for a in (node, *node.ancestors()))


def _head(page: Node) -> Node:
    return page.find_all("head")[0]


def _html_files(site: Path) -> list[Path]:
    return sorted(site.rglob("*.html"))


# ---- the frame of every page -----------------------------------------------------------------


def test_every_page_has_the_csp_first_then_icon_stylesheet_json_ld_and_language(
    site: Path,
) -> None:
    pages = _html_files(site)
    assert len(pages) == 1 + len(_items())
    for path in pages:
        page = parse_html(path.read_bytes())
        html = page.find_all("html")[0]
        assert html.attrs["lang"] == "en"
        head = _head(page)
        elements = [c for c in head.children if isinstance(c, Node)]
        assert elements[0].tag == "meta"
        assert elements[0].attrs["http-equiv"] == "Content-Security-Policy"
        root = "" if path.parent == site else "../../"
        links = {(n.attrs["rel"], n.attrs["href"]) for n in head.find_all("link")}
        assert ("icon", f"{root}favicon.svg") in links
        assert ("stylesheet", f"{root}assets/site.css") in links
        ld = [s for s in head.find_all("script") if s.attrs.get("type") == "application/ld+json"]
        assert len(ld) == 1
        assert json.loads(ld[0].text())["@context"] == "https://schema.org"


def test_no_inline_handlers_styles_or_style_elements_anywhere(site: Path) -> None:
    for path in _html_files(site):
        for node in _page(site, str(path.relative_to(site))).iter():
            assert node.tag != "style"
            for name in node.attrs:
                assert not name.startswith("on"), (path, node.tag, name)
                assert name != "style", (path, node.tag)


def test_the_csp_is_the_issues_policy_with_the_hash_of_each_inline_script(site: Path) -> None:
    for path in _html_files(site):
        page = parse_html(path.read_bytes())
        policy = _head(page).find_all("meta")[0].attrs["content"]
        assert policy is not None
        directives = {
            part.split()[0]: part.split()[1:] for part in policy.split(";") if part.strip()
        }
        assert directives["default-src"] == ["'none'"]
        assert directives["base-uri"] == ["'none'"]
        assert directives["form-action"] == ["'none'"]
        assert directives["img-src"] == ["'self'", "data:", "blob:"]
        assert directives["worker-src"] == ["'self'", "blob:"]
        assert "'wasm-unsafe-eval'" in directives["script-src"]
        assert "'unsafe-inline'" not in policy and "'unsafe-eval'" not in policy
        hashes = {s for s in directives["script-src"] if s.startswith("'sha256-")}
        executed = [
            s
            for s in page.find_all("script")
            if "src" not in s.attrs
            and s.attrs.get("type") not in ("application/ld+json", "application/json")
        ]
        # Recomputed here from the parsed text (hashlib + base64), not taken from the code.
        expected = {
            "'sha256-" + base64.b64encode(hashlib.sha256(s.text().encode()).digest()).decode() + "'"
            for s in executed
        }
        assert hashes == expected
        assert len(executed) == (1 if path.parent == site else 0)


def test_script_hash_matches_the_csp_specifications_example() -> None:
    # CSP Level 3, "Hash usage for script elements": alert('Hello, world.');
    assert script_hash("alert('Hello, world.');") == (
        "'sha256-qznLcsROx4GACP2dm0UCKCzCG+HiZ1guq6ZZDob/Tng='"
    )


# ---- index.html ------------------------------------------------------------------------------


def test_index_keeps_the_dom_contract(site: Path) -> None:
    page = _page(site, "index.html")
    importmap = [s for s in page.find_all("script") if s.attrs.get("type") == "importmap"]
    assert len(importmap) == 1
    assert json.loads(importmap[0].text()) == {
        "imports": {
            "three": "./assets/vendor/three/three.module.js",
            "three/addons/": "./assets/vendor/three/addons/",
        }
    }
    gallery = page.by_id("gallery")
    assert gallery.tag == "div"
    assert gallery.attrs["data-gallery"] == "gallery.json"
    assert gallery.attrs["data-theme"] == "gallery"
    assert page.by_id("xr-buttons").tag == "div"
    form = page.by_id("search")
    assert form.tag == "form" and form.attrs["role"] == "search"
    assert page.by_id("search-text").attrs["type"] == "search"
    options = {}
    for name in ("filter-subject", "filter-place", "filter-era"):
        select = page.by_id(name)
        assert select.tag == "select"
        values = [o.attrs["value"] for o in select.find_all("option")]
        assert values[0] == ""
        options[name] = values[1:]
    assert options == {
        "filter-subject": ["carving", "waka"],
        "filter-place": ["Reef Bay"],
        "filter-era": ["1890s"],
    }
    assert page.by_id("search-count").attrs["aria-live"] == "polite"
    listing = page.by_id("item-list")
    entries = listing.find_all("li")
    ids = [e.attrs["data-item"] for e in entries]
    assert ids == [item.item_id for item in _items()]
    for entry in entries:
        links = entry.find_all("a")
        assert [a.attrs["href"] for a in links] == [f"items/{entry.attrs['data-item']}/"]
    titles = [e.find_all("a")[0].text() for e in entries]
    assert titles == ["Carved prow"] * 5 + ["Kete", "song-sheet.pdf"]
    modules = [s.attrs["src"] for s in page.find_all("script") if s.attrs.get("type") == "module"]
    assert modules == ["assets/app/gallery.js", "assets/app/search.js"]


def test_a_title_in_another_language_is_marked_with_its_language(site: Path) -> None:
    kete = [a for a in _page(site, "index.html").find_all("a") if a.text() == "Kete"]
    assert kete[0].attrs["lang"] == "mi"


# ---- item pages ------------------------------------------------------------------------------


def test_model_page_has_model_viewer_with_ar_and_its_scripts_in_order(site: Path) -> None:
    page = _page(site, _item_path(1))
    viewer = page.by_id("viewer")
    assert viewer.tag == "model-viewer"
    assert viewer.attrs["src"] == "files/model.glb"
    assert viewer.attrs["poster"] == "files/poster.png"
    assert viewer.attrs["alt"] == "A carved canoe prow, red and black"
    assert "camera-controls" in viewer.attrs and "ar" in viewer.attrs
    assert viewer.attrs["ar-modes"] == "webxr quick-look"
    sources = [s.attrs.get("src") for s in page.find_all("script") if "src" in s.attrs]
    assert sources == [
        "../../assets/app/mv-config.js",
        "../../assets/vendor/model-viewer/model-viewer.min.js",
        "../../assets/app/verify.js",
        "../../assets/app/item.js",
    ]
    assert all(s.attrs.get("type") == "module" for s in page.find_all("script") if "src" in s.attrs)


def test_scene_viewer_only_when_the_spec_opts_in(tmp_path: Path) -> None:
    site = render(tmp_path / "out", [exhibited(1, kind="model")], spec_of(scene_viewer=True))
    viewer = _page(site, _item_path(1)).by_id("viewer")
    assert viewer.attrs["ar-modes"] == "webxr quick-look scene-viewer"


def test_image_audio_video_and_other_pages_show_their_files(site: Path) -> None:
    image = _page(site, _item_path(2)).by_id("viewer")
    assert (image.tag, image.attrs["src"], image.attrs["width"], image.attrs["height"]) == (
        "img",
        "files/image.jpg",
        "1200",
        "800",
    )
    assert image.attrs["alt"] == "A carved canoe prow, red and black"
    audio_page = _page(site, _item_path(3))
    audio = audio_page.by_id("viewer")
    assert (audio.tag, audio.attrs["src"]) == ("audio", "files/audio.m4a")
    assert "controls" in audio.attrs
    transcript = [n for n in audio_page.iter() if n.attrs.get("class") == "transcript-text"]
    assert transcript[0].text() == "The words of the song."
    video = _page(site, _item_path(4)).by_id("viewer")
    assert (video.tag, video.attrs["src"], video.attrs["poster"]) == (
        "video",
        "files/video.mp4",
        "files/poster.png",
    )
    other = _page(site, _item_path(5)).by_id("viewer")
    assert (other.tag, other.attrs["src"]) == ("img", "files/poster.png")
    for number in (2, 3, 4, 5):
        scripts = [s.attrs.get("src") for s in _page(site, _item_path(number)).find_all("script")]
        assert "../../assets/vendor/model-viewer/model-viewer.min.js" not in scripts


def test_language_switcher_and_localised_blocks(site: Path) -> None:
    page = _page(site, _item_path(1))
    select = page.by_id("language")
    assert [o.attrs["value"] for o in select.find_all("option")] == ["en", "mi"]
    # Each language by its own name, as the Unicode CLDR writes it (cldr.unicode.org: the
    # Māori locale's name for itself is "Māori").
    assert [(o.attrs["lang"], o.text()) for o in select.find_all("option")] == [
        ("en", "English"),
        ("mi", "Māori"),
    ]
    blocks = [n for n in page.iter() if n.attrs.get("class") == "l10n"]
    assert {b.attrs["data-lang"] for b in blocks} == {"en", "mi"}
    for block in blocks:
        assert block.attrs["lang"] == block.attrs["data-lang"]
        assert ("hidden" in block.attrs) == (block.attrs["data-lang"] != "en")
    headings = {b.attrs["data-lang"]: b.find_all("h1") for b in blocks if b.find_all("h1")}
    assert headings["en"][0].text() == "Carved prow"
    assert headings["mi"][0].text() == "Tauihu"
    # The context exists only in Māori: the English block falls back to it, marked as such.
    context = [
        n
        for b in blocks
        if b.attrs["data-lang"] == "en"
        for n in b.iter()
        if n.attrs.get("class") == "context"
    ]
    assert context[0].attrs["lang"] == "mi" and "Nā te iwi." in context[0].text()


def test_languages_without_a_cldr_locale_are_named_in_english_or_by_their_tag() -> None:
    # CLDR has Hawaiian as a locale (its autonym), Samoan only as a name in English, and a
    # private-use tag not at all.
    assert language_name("haw") == "ʻŌlelo Hawaiʻi"
    assert language_name("sm") == "Samoan"
    assert language_name("en-x-reef") == "English (en-x-reef)"
    assert language_name("qaa") == "qaa"


def test_one_language_has_no_switcher(tmp_path: Path) -> None:
    site = render(tmp_path / "out", [exhibited(1, description=DESCRIBED)])
    page = _page(site, _item_path(1))
    assert not [n for n in page.iter() if n.attrs.get("id") == "language"]


def test_no_description_takes_the_file_name_as_title_and_alt(site: Path) -> None:
    page = _page(site, _item_path(10))
    assert [h.text() for h in page.find_all("h1") if _visible(h)] == ["song-sheet.pdf"]
    assert page.by_id("viewer").attrs["alt"] == "song-sheet.pdf"


def test_verify_button_and_output(site: Path) -> None:
    page = _page(site, _item_path(2))
    button = page.by_id("verify")
    assert button.tag == "button" and button.attrs["type"] == "button"
    assert button.attrs["data-proofs"] == "../../proofs.json"
    assert button.attrs["data-item"] == "0x" + "02" * 32
    result = page.by_id("verify-result")
    assert result.tag == "output" and result.attrs["aria-live"] == "polite"


def test_provenance_panel_says_the_terms_in_words(site: Path) -> None:
    page = _page(site, _item_path(2))
    text = " ".join(page.text().split())
    assert "Creative Commons Attribution 4.0 International" in text
    assert "https://spdx.org/licenses/CC-BY-4.0.html" in text
    assert "TK Attribution (TK A): The community asks that it be named" in text
    assert "Courtesy of the community's keepers" in text
    assert CHAIN.registry in text and "chain 31337" in text
    assert "0x" + "02ab" * 16 in text  # the registering transaction
    assert str(_items()[1].candidate.cid) in text


def test_lineage_shows_ai_enhanced_and_links_a_shown_parent(tmp_path: Path) -> None:
    parent = exhibited(1, description={"title": {"en": "The original"}})
    child = exhibited(
        2,
        lineage=(
            Lineage(parent.candidate.key, parent.candidate.cid, {"method": "restoration"}, True),
        ),
    )
    site = render(tmp_path / "out", [parent, child])
    page = _page(site, _item_path(2))
    lineage = next(n for n in page.iter() if n.attrs.get("class") == "lineage")
    assert [n.text() for n in lineage.iter() if n.attrs.get("class") == "ai-enhanced"] == [
        "AI-enhanced"
    ]
    links = lineage.find_all("a")
    assert [(a.attrs["href"], a.text()) for a in links] == [
        (f"../{parent.item_id}/", "The original")
    ]
    assert "by restoration" in lineage.text()


def test_a_parent_that_is_not_shown_leaves_no_trace(tmp_path: Path) -> None:
    hidden_key = bytes([0x77]) * 32
    hidden_cid = DerivedFile.of("x", "application/octet-stream", b"hidden master").cid
    child = exhibited(
        2, lineage=(Lineage(hidden_key, hidden_cid, {"method": "retopology"}, False),)
    )
    site = render(tmp_path / "out", [child])
    forms = [hidden_key.hex().encode(), str(hidden_cid).encode()]
    for path in site.rglob("*"):
        if path.is_file():
            data = path.read_bytes().lower()
            assert not any(form.lower() in data for form in forms), path
    lineage = " ".join(_page(site, _item_path(2)).text().split())
    assert "Derivative of an item not shown in this exhibit, by retopology." in lineage


# ---- links and origins -----------------------------------------------------------------------


def _references(node: Node) -> list[str]:
    refs = []
    for name in ("href", "src", "poster", "data-proofs", "data-gallery"):
        value = node.attrs.get(name)
        if value is not None:
            refs.append(value)
    return refs


def test_every_reference_resolves_to_a_file_in_the_folder(site: Path) -> None:
    checked = 0
    for path in _html_files(site):
        page = parse_html(path.read_bytes())
        ids = {n.attrs["id"] for n in page.iter() if "id" in n.attrs}
        for node in page.iter():
            for ref in _references(node):
                assert not re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*:|^//", ref), (path, ref)
                if ref.startswith("#"):
                    assert ref[1:] in ids, (path, ref)
                    continue
                target = PurePosixPath(path.parent.relative_to(site).as_posix()) / ref
                resolved = site.joinpath(*_normalise(target).parts)
                if ref.endswith("/") or ref == "./":
                    resolved = resolved / "index.html"
                assert resolved.is_file(), (path, ref)
                assert site in resolved.resolve().parents
                checked += 1
    assert checked > 50


def _normalise(path: PurePosixPath) -> PurePosixPath:
    parts: list[str] = []
    for part in path.parts:
        if part == "..":
            assert parts, f"{path} climbs out of the site"
            parts.pop()
        elif part not in (".", ""):
            parts.append(part)
    return PurePosixPath(*parts) if parts else PurePosixPath(".")


def test_no_url_outside_the_origin_in_pages_css_and_script_data(site: Path) -> None:
    for path in _html_files(site):
        for node in parse_html(path.read_bytes()).iter():
            for name, value in node.attrs.items():
                if value is not None and name != "content":
                    assert "://" not in value and not value.startswith("//"), (path, name)
    css = (site / "assets/site.css").read_text()
    assert "url(" not in css and "@import" not in css
    for name in ("search.json", "gallery.json"):
        assert "://" not in (site / name).read_text()


def test_without_base_url_there_is_no_sitemap_iiif_or_absolute_json_ld(site: Path) -> None:
    assert not (site / "sitemap.xml").exists()
    assert not (site / "iiif").exists()
    assert (site / "robots.txt").read_text() == "User-agent: *\nAllow: /\n"
    for path in _html_files(site):
        ld = next(
            s
            for s in parse_html(path.read_bytes()).find_all("script")
            if s.attrs.get("type") == "application/ld+json"
        )
        text = ld.text().replace('"@context":"https://schema.org"', "")
        text = text.replace("https://spdx.org/licenses/CC-BY-4.0.html", "")
        assert "://" not in text, path


# ---- accessibility ---------------------------------------------------------------------------


def test_landmarks_skip_link_headings_labels_and_alt_texts(site: Path) -> None:
    for path in _html_files(site):
        page = parse_html(path.read_bytes())
        body = page.find_all("body")[0]
        first = next(c for c in body.children if isinstance(c, Node))
        assert first.tag == "a" and first.attrs["href"] == "#main"
        assert page.by_id("main").tag == "main"
        assert len(page.find_all("main")) == 1
        assert len(page.find_all("header")) == 1 and len(page.find_all("footer")) == 1
        levels = [
            int(n.tag[1]) for n in page.iter() if re.fullmatch(r"h[1-6]", n.tag) and _visible(n)
        ]
        assert levels[0] == 1 and levels.count(1) == 1, (path, levels)
        for before, after in itertools.pairwise(levels):
            assert after <= before + 1, (path, levels)
        for image in page.find_all("img"):
            assert "alt" in image.attrs
        labels = {n.attrs["for"] for n in page.find_all("label")}
        for control in (*page.find_all("input"), *page.find_all("select")):
            assert control.attrs["id"] in labels
        for node in page.iter():
            if "lang" in node.attrs:
                assert node.attrs["lang"] in ("en", "mi")


# ---- files, determinism, refusals -----------------------------------------------------------


def test_derived_files_are_written_byte_for_byte_and_nothing_else_of_an_item(
    site: Path,
) -> None:
    for entry in _items():
        folder = site / "items" / entry.item_id / "files"
        assert sorted(p.name for p in folder.iterdir()) == sorted(f.name for f in entry.files.files)
        for derived in entry.files.files:
            assert (folder / derived.name).read_bytes() == derived.data


def test_gallery_and_proofs_writers_get_every_shown_item(site: Path) -> None:
    gallery = json.loads((site / "gallery.json").read_text())
    entries = {e["id"]: e for e in gallery["entries"]}
    model = entries["0x" + "01" * 32]
    assert model["model"] == f"items/{'0x' + '01' * 32}/files/model.glb"
    assert (model["image"], model["width"], model["height"]) == (
        f"items/{'0x' + '01' * 32}/files/poster.png",
        640,
        480,
    )
    assert entries["0x" + "03" * 32]["media"] == f"items/{'0x' + '03' * 32}/files/audio.m4a"
    assert entries["0x" + "02" * 32]["image"].endswith("/files/image.jpg")
    proofs = json.loads((site / "proofs.json").read_text())
    assert proofs["items"] == [e.item_id for e in _items()]


def _tree(folder: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()
    }


def test_the_same_inputs_give_the_same_bytes(tmp_path: Path) -> None:
    spec = spec_of(("en", "mi"), base_url="https://example.org/reef/")
    rooms = [RoomPlan((("en", "Room"),), (_items()[1].item_id,))]
    first = _tree(render(tmp_path / "a", _items(), spec, rooms))
    second = _tree(render(tmp_path / "b", _items(), spec, rooms))
    assert first == second
    assert "sitemap.xml" in first and "iiif/collection.json" in first


def test_refuses_a_folder_that_is_not_empty_or_missing(tmp_path: Path) -> None:
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "stale.html").write_text("old")
    with pytest.raises(UsageError, match="is not empty"):
        render(tmp_path / "out", _items())
    assert (tmp_path / "out" / "stale.html").read_text() == "old"


def test_refuses_a_file_name_that_would_leave_its_folder(tmp_path: Path) -> None:
    bad = (DerivedFile.of("../../index.html", "text/html", b"<script>"),)
    with pytest.raises(UsageError, match="derived file") as caught:
        render(tmp_path / "out", [exhibited(1, files=bad)])
    assert caught.value.hint is not None
    assert not (tmp_path / "out" / "index.html").exists()


def test_refuses_an_item_given_twice_a_room_of_unknown_items_and_a_naive_time(
    tmp_path: Path,
) -> None:
    one = exhibited(1)
    with pytest.raises(UsageError, match="twice"):
        render(tmp_path / "a", [one, one])
    with pytest.raises(UsageError, match="not among the shown items"):
        render(tmp_path / "b", [one], rooms=[RoomPlan((("en", "R"),), ("0x" + "99" * 32,))])
    from exhibits.site.render import site_files

    with pytest.raises(UsageError, match="no time zone"):
        site_files(spec_of(), (), [one], CHAIN, built_at=datetime(2026, 1, 1))


def test_built_at_is_the_only_time_written(tmp_path: Path) -> None:
    later = BUILT_AT.replace(year=2030)
    from exhibits.site.render import site_files

    def trivial_gallery(*_: object) -> dict[str, Any]:
        return {}

    def trivial_proofs(
        chain: ChainRef, items: Sequence[Exhibited], *, built_at: datetime
    ) -> dict[str, Any]:
        return {}

    items = [exhibited(1, kind=kind) for kind in ("image",)] + [
        exhibited(2, kind="model", files=files_for("model"))
    ]
    a = site_files(spec_of(), (), items, CHAIN, built_at=BUILT_AT, gallery=trivial_gallery,
                   proofs=trivial_proofs)  # fmt: skip
    b = site_files(spec_of(), (), items, CHAIN, built_at=later, gallery=trivial_gallery,
                   proofs=trivial_proofs)  # fmt: skip
    changed = {p for p in a if a[p] != b[p]}
    assert changed == {"index.html", *(f"items/{i.item_id}/index.html" for i in items)}
    for path in changed:
        assert a[path].replace(b"2026-12-01T12:00:00Z", b"2030-12-01T12:00:00Z") == b[path]


def test_a_language_tag_in_another_case_is_the_same_language(tmp_path: Path) -> None:
    item = exhibited(1, description={"title": {"EN": "Prow"}, "description": {"En": "Carved."}})
    page = _page(render(tmp_path / "out", [item]), _item_path(1))
    block = next(n for n in page.iter() if n.attrs.get("class") == "l10n")
    assert not [n for n in block.iter() if "lang" in n.attrs and n is not block]


def test_one_strict_autoescaping_environment_and_no_way_around_it_in_templates() -> None:
    from jinja2 import StrictUndefined

    from exhibits.site.render import site_environment

    env = site_environment()
    assert env.autoescape is True and env.undefined is StrictUndefined
    assert env.extensions == {}
    folder = Path(__file__).parents[2] / "exhibits" / "site" / "templates"
    for template in folder.glob("*.html"):
        text = template.read_text()
        for escape_hatch in ("|safe", "| safe", "autoescape", "Markup", "import ", "include "):
            assert escape_hatch not in text, (template.name, escape_hatch)
    # Only the JSON-in-script writer and the constant import map are ever marked safe.
    sources = (Path(__file__).parents[2] / "exhibits" / "site").glob("*.py")
    marked = {p.name: p.read_text().count("Markup(") for p in sources}
    assert {name: n for name, n in marked.items() if n} == {"script_data.py": 1, "render.py": 1}


def test_ai_use_consent_is_said_in_words(tmp_path: Path) -> None:
    terms = public_terms(COMMUNITY, ai_use={"training": False, "enhancement": True})
    site = render(tmp_path / "out", [exhibited(1, terms=terms)])
    terms_list = next(
        n for n in _page(site, _item_path(1)).iter() if n.attrs.get("class") == "terms"
    )
    names = [n.text() for n in terms_list.find_all("dt")]
    pairs = dict(zip(names, terms_list.find_all("dd"), strict=True))
    assert pairs["AI use"].text() == "training not consented; enhancement consented"
