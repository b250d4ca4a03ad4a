"""The site's data: search.json, eras, place precision in every output, IIIF manifests read
by iiif-prezi3 (an independent reader), JSON-LD, sitemap and robots.txt, the spec's base_url,
the Label meanings, and the themes' contrast ratios."""

from __future__ import annotations

import json
import math
import re
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
from iiif_prezi3 import Collection, Manifest  # type: ignore[import-untyped]

from exhibits.model import Kind
from exhibits.site.context import era_of
from exhibits.site.iiif import cc_uri
from exhibits.site.labels import LABEL_MEANINGS
from exhibits.spec import check_spec, parse_spec
from ledger.errors import InvalidExhibitSpec
from ledger.rights.vocabulary import LABELS
from tests.exhibits.site_support import COMMUNITY, exhibited, parse_html, render, spec_of
from tests.rights_support import public_terms

BASE = "https://example.org/reef/"
LAT, LON = -41.2865432, 174.7762109


def _json_ld(site: Path, item_id: str) -> dict[str, Any]:
    page = parse_html((site / "items" / item_id / "index.html").read_bytes())
    script = next(
        s for s in page.find_all("script") if s.attrs.get("type") == "application/ld+json"
    )
    value: dict[str, Any] = json.loads(script.text())
    return value


def _all_bytes(site: Path) -> bytes:
    return b"\n".join(p.read_bytes() for p in sorted(site.rglob("*")) if p.is_file())


# ---- search.json ------------------------------------------------------------------------------


def test_search_index_lists_each_shown_item_in_every_site_language(tmp_path: Path) -> None:
    first = exhibited(
        1,
        kind="model",
        description={
            "title": {"en": "Prow", "mi": "Tauihu"},
            "description": {"en": "Carved."},
            "subjects": ["carving"],
            "date": "12 May 1923",
            "place": {"name": "Reef Bay", "lat": LAT, "lon": LON},
        },
    )
    second = exhibited(2, kind="audio", file_name="song.m4a")
    site = render(tmp_path / "out", [first, second], spec_of(("en", "mi")))
    assert json.loads((site / "search.json").read_text()) == {
        "languages": ["en", "mi"],
        "items": [
            {
                "id": "0x" + "01" * 32,
                "href": f"items/0x{'01' * 32}/",
                "title": {"en": "Prow", "mi": "Tauihu"},
                "description": {"en": "Carved.", "mi": "Carved."},
                "subjects": ["carving"],
                "place": "Reef Bay",
                "date": "12 May 1923",
                "era": "1920s",
                "kind": "model",
            },
            {
                "id": "0x" + "02" * 32,
                "href": f"items/0x{'02' * 32}/",
                "title": {"en": "song.m4a", "mi": "song.m4a"},
                "description": {},
                "subjects": [],
                "place": None,
                "date": None,
                "era": None,
                "kind": "audio",
            },
        ],
    }


@pytest.mark.parametrize(
    ("date", "era"),
    [
        ("1897", "1890s"),
        ("c. 1900", "1900s"),
        ("1890s", "1890s"),
        ("1800", "1800s"),
        ("2001-03-04", "2000s"),
        ("1799", "18th century"),
        ("c. 1750", "18th century"),
        ("1601", "17th century"),
        ("1500", "16th century"),
        ("999", "10th century"),
        ("1211", "13th century"),
        ("1120", "12th century"),
        ("n.d.", None),
        ("12", None),
        ("12345", None),
    ],
)
def test_era_is_the_decade_from_1800_and_the_century_before(date: str, era: str | None) -> None:
    assert era_of(date) == era


def test_era_filter_options_are_chronological(tmp_path: Path) -> None:
    items = [
        exhibited(n, description={"title": {"en": f"t{n}"}, "date": date})
        for n, date in enumerate(("1923", "1750", "1897", "1412", "1925"), start=1)
    ]
    site = render(tmp_path / "out", items)
    page = parse_html((site / "index.html").read_bytes())
    options = [o.attrs["value"] for o in page.by_id("filter-era").find_all("option")]
    assert options == ["", "15th century", "18th century", "1890s", "1920s"]


# ---- place precision ----------------------------------------------------------------------


def _placed(location: dict[str, Any] | None, lat: float = LAT, lon: float = LON) -> Any:
    terms = public_terms(COMMUNITY, location=location)
    return exhibited(
        2,
        kind="image",
        description={
            "title": {"en": "Placed"},
            "place": {"name": "Reef Bay", "lat": lat, "lon": lon},
        },
        terms=terms,
    )


def _haversine(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    radius = 6_371_008.8  # mean Earth radius, metres
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * radius * math.asin(math.sqrt(a))


@pytest.mark.parametrize("location", [None, {"precision": "hidden"}])
def test_hidden_place_has_no_coordinates_anywhere(
    location: dict[str, Any] | None, tmp_path: Path
) -> None:
    site = render(tmp_path / "out", [_placed(location)], spec_of(base_url=BASE))
    everything = _all_bytes(site)
    for digits in (b"41.2", b"174.7", b"41,2", b"174,7"):
        assert digits not in everything
    ld = _json_ld(site, "0x" + "02" * 32)
    assert ld["contentLocation"] == {"@type": "Place", "name": "Reef Bay"}
    assert b"Reef Bay" in everything


def test_exact_place_has_at_most_five_decimals_everywhere(tmp_path: Path) -> None:
    site = render(tmp_path / "out", [_placed({"precision": "exact"})], spec_of(base_url=BASE))
    geo = _json_ld(site, "0x" + "02" * 32)["contentLocation"]["geo"]
    assert (geo["latitude"], geo["longitude"]) == (-41.28654, 174.77621)
    everything = _all_bytes(site)
    assert b"41.286543" not in everything and b"174.776210" not in everything
    for match in re.finditer(rb"-?\d+\.(\d+)", everything):
        if match.group(0).lstrip(b"-").startswith((b"41.", b"174.")):
            assert len(match.group(1)) <= 5


@pytest.mark.parametrize("distance", [1000, 10_000, 250_000])
def test_coarsened_place_is_snapped_within_the_grid_everywhere(
    distance: int, tmp_path: Path
) -> None:
    location = {"precision": "coarsened", "distance_m": distance}
    site = render(tmp_path / "out", [_placed(location)], spec_of(base_url=BASE))
    geo = _json_ld(site, "0x" + "02" * 32)["contentLocation"]["geo"]
    lat, lon = geo["latitude"], geo["longitude"]
    assert _haversine(LAT, LON, lat, lon) <= distance
    assert (round(lat, 4), round(lon, 4)) != (round(LAT, 4), round(LON, 4))
    # A point a few metres away, in the same cell, gives the same output.
    nearby = render(
        tmp_path / "nearby",
        [_placed(location, LAT + 0.00002, LON - 0.00002)],
        spec_of(base_url=BASE),
    )
    assert _json_ld(nearby, "0x" + "02" * 32)["contentLocation"]["geo"] == geo
    everything = _all_bytes(site)
    assert b"41.2865" not in everything and b"174.7762" not in everything
    manifest = json.loads((site / "iiif" / ("0x" + "02" * 32) / "manifest.json").read_text())
    place = next(m for m in manifest["metadata"] if m["label"]["en"] == ["Place"])
    assert place["value"]["none"] == [f"Reef Bay ({lat}, {lon})"]
    page = parse_html((site / "items" / ("0x" + "02" * 32) / "index.html").read_bytes())
    assert f"within about {distance} m" in page.text()


# ---- IIIF -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spdx", "uri"),
    [
        ("CC-BY-4.0", "http://creativecommons.org/licenses/by/4.0/"),
        ("CC-BY-NC-SA-3.0-IGO", "http://creativecommons.org/licenses/by-nc-sa/3.0/igo/"),
        ("CC-BY-ND-2.5", "http://creativecommons.org/licenses/by-nd/2.5/"),
        ("CC0-1.0", "http://creativecommons.org/publicdomain/zero/1.0/"),
        ("MIT", None),
        ("CC-PDDC", None),
    ],
)
def test_cc_uri(spdx: str, uri: str | None) -> None:
    assert cc_uri(spdx) == uri


def _iiif_site(tmp_path: Path) -> Path:
    image = exhibited(
        2,
        kind="image",
        description={
            "title": {"en": "Kete", "mi": "Kete whakairo"},
            "description": {"en": "A woven basket."},
            "creator": "Weavers",
        },
    )
    statement = exhibited(
        3,
        kind="image",
        terms=public_terms(
            COMMUNITY, license=None, rights_statement="http://rightsstatements.org/vocab/NKC/1.0/"
        ),
    )
    model = exhibited(1, kind="model")
    return render(tmp_path / "out", [model, image, statement], spec_of(("en", "mi"), base_url=BASE))


def test_image_manifests_are_presentation_3_as_iiif_prezi3_reads_them(tmp_path: Path) -> None:
    site = _iiif_site(tmp_path)
    manifests = sorted((site / "iiif").glob("*/manifest.json"))
    assert [p.parent.name for p in manifests] == ["0x" + "02" * 32, "0x" + "03" * 32]
    document = json.loads(manifests[0].read_text())
    read = Manifest(**document)
    assert str(read.id) == f"{BASE}iiif/0x{'02' * 32}/manifest.json"
    again = json.loads(read.jsonld())
    assert again["label"] == {"en": ["Kete"], "mi": ["Kete whakairo"]}
    assert again["summary"] == {"en": ["A woven basket."]}
    assert again["rights"] == "http://creativecommons.org/licenses/by/4.0/"
    canvas = again["items"][0]
    assert (canvas["type"], canvas["width"], canvas["height"]) == ("Canvas", 1200, 800)
    body = canvas["items"][0]["items"][0]["body"]
    assert body["id"] == f"{BASE}items/0x{'02' * 32}/files/image.jpg"
    assert (body["format"], body["width"], body["height"]) == ("image/jpeg", 1200, 800)
    assert canvas["items"][0]["items"][0]["target"] == canvas["id"]
    assert again["homepage"][0]["id"] == f"{BASE}items/0x{'02' * 32}/"
    statement = Manifest(**json.loads(manifests[1].read_text()))
    assert str(statement.rights) == "http://rightsstatements.org/vocab/NKC/1.0/"
    for path in manifests:
        for url in re.findall(r'"(https?://[^"]+)"', path.read_text()):
            assert url.startswith(BASE) or url in (
                "http://iiif.io/api/presentation/3/context.json",
                "http://creativecommons.org/licenses/by/4.0/",
                "http://rightsstatements.org/vocab/NKC/1.0/",
            ), url
    # Each id names a file the site holds (the ids are this site's own URLs).
    assert (site / body["id"].removeprefix(BASE)).is_file()


def test_collection_lists_the_image_manifests_and_item_pages_link_them(tmp_path: Path) -> None:
    site = _iiif_site(tmp_path)
    collection = Collection(**json.loads((site / "iiif" / "collection.json").read_text()))
    again = json.loads(collection.jsonld())
    assert again["label"] == {"en": ["Voices of the Reef"]}
    assert [m["id"] for m in again["items"]] == [
        f"{BASE}iiif/0x{'02' * 32}/manifest.json",
        f"{BASE}iiif/0x{'03' * 32}/manifest.json",
    ]
    image_page = parse_html((site / "items" / ("0x" + "02" * 32) / "index.html").read_bytes())
    links = [a.attrs["href"] for a in image_page.find_all("a")]
    assert f"../../iiif/0x{'02' * 32}/manifest.json" in links
    model_page = parse_html((site / "items" / ("0x" + "01" * 32) / "index.html").read_bytes())
    assert not [a for a in model_page.find_all("a") if "iiif" in (a.attrs["href"] or "")]


# ---- JSON-LD, sitemap, robots ----------------------------------------------------------------


def test_json_ld_types_and_absolute_urls_with_a_base(tmp_path: Path) -> None:
    kinds: tuple[Kind, ...] = ("model", "image", "audio", "video", "other")
    items = [exhibited(n, kind=kind) for n, kind in enumerate(kinds, start=1)]
    site = render(tmp_path / "out", items, spec_of(base_url=BASE))
    types = [_json_ld(site, item.item_id)["@type"] for item in items]
    assert types == ["3DModel", "ImageObject", "AudioObject", "VideoObject", "CreativeWork"]
    model = _json_ld(site, items[0].item_id)
    assert model["url"] == f"{BASE}items/{items[0].item_id}/"
    assert model["contentUrl"] == f"{BASE}items/{items[0].item_id}/files/model.glb"
    assert model["license"] == "https://spdx.org/licenses/CC-BY-4.0.html"
    assert model["identifier"] == str(items[0].candidate.cid)


def test_json_ld_urls_are_relative_without_a_base_and_resolve(tmp_path: Path) -> None:
    item = exhibited(1, kind="model")
    site = render(tmp_path / "out", [item])
    ld = _json_ld(site, item.item_id)
    assert ld["url"] == f"../../items/{item.item_id}/"
    assert ld["isPartOf"]["url"] == "../../"
    page_dir = site / "items" / item.item_id
    assert (page_dir / ld["contentUrl"]).resolve().is_file()
    assert (page_dir / ld["url"] / "index.html").resolve().is_file()


def test_sitemap_lists_every_page_with_absolute_escaped_urls(tmp_path: Path) -> None:
    base = "https://example.org/ngā&reo/"
    items = [exhibited(1), exhibited(2, kind="model")]
    site = render(tmp_path / "out", items, spec_of(base_url=base))
    root = ET.fromstring((site / "sitemap.xml").read_bytes())
    namespace = "{http://www.sitemaps.org/schemas/sitemap/0.9}"
    assert root.tag == f"{namespace}urlset"
    locations = [loc.text for loc in root.iter(f"{namespace}loc")]
    encoded = "https://example.org/ng%C4%81&reo/"  # ā is U+0101: UTF-8 C4 81
    assert locations == [encoded, *(f"{encoded}items/{i.item_id}/" for i in items)]
    assert b"&amp;reo" in (site / "sitemap.xml").read_bytes()
    assert (site / "robots.txt").read_text() == (
        f"User-agent: *\nAllow: /\n\nSitemap: {encoded}sitemap.xml\n"
    )


# ---- the spec's base_url -------------------------------------------------------------------

MINIMAL = 'title = "T"\nlanguages = ["en"]\n[select]\ncommunities = ["Reef People"]\n'


def test_base_url_is_optional_and_gets_a_trailing_slash() -> None:
    plain = parse_spec(MINIMAL)
    assert plain.base_url is None and "base_url" not in plain.to_json()
    spec = parse_spec('base_url = "https://example.org/reef"\n' + MINIMAL)
    assert spec.base_url == "https://example.org/reef/"
    assert spec.to_json()["base_url"] == "https://example.org/reef/"
    assert check_spec(spec.to_json()) == ()
    assert spec.spec_id != plain.spec_id


@pytest.mark.parametrize(
    "url",
    [
        "example.org/reef/",
        "ftp://example.org/",
        "javascript:alert(1)",
        "https:///path",
        "https://user@example.org/",
        "https://example.org/?q=1",
        "https://example.org/#top",
        "https://example.org/a b/",
        "https://example.org:99999/",
    ],
)
def test_a_base_url_that_is_not_an_absolute_http_url_is_refused(url: str) -> None:
    with pytest.raises(InvalidExhibitSpec) as caught:
        parse_spec(f"base_url = {json.dumps(url)}\n" + MINIMAL)
    assert [(p.pointer, p.rule) for p in caught.value.problems] == [("/base_url", "base-url")]
    assert caught.value.hint is not None


# ---- Labels --------------------------------------------------------------------------------


def test_every_label_and_notice_has_a_meaning() -> None:
    assert set(LABEL_MEANINGS) == set(LABELS)
    assert all(len(m) > 20 and m.endswith(".") for m in LABEL_MEANINGS.values())


# ---- themes --------------------------------------------------------------------------------


def _luminance(hex_colour: str) -> float:
    # WCAG 2.1 relative luminance (sRGB).
    channels = [int(hex_colour[i : i + 2], 16) / 255 for i in (1, 3, 5)]
    linear = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def _contrast(a: str, b: str) -> float:
    high, low = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def test_the_contrast_formula_on_known_pairs() -> None:
    assert _contrast("#000000", "#ffffff") == pytest.approx(21.0)
    assert _contrast("#777777", "#ffffff") == pytest.approx(4.48, abs=0.01)  # WebAIM's example


def _themes() -> dict[str, dict[str, str]]:
    css = (Path(__file__).parents[2] / "exhibits/site/static/site.css").read_text()
    themes = {}
    for name, body in re.findall(r'body\[data-theme="(\w+)"\]\s*\{([^}]*)\}', css):
        themes[name] = dict(re.findall(r"--([\w-]+):\s*(#[0-9a-fA-F]{6});", body))
    return themes


def test_each_theme_has_readable_contrast_and_contrast_meets_aaa() -> None:
    themes = _themes()
    assert set(themes) == {"gallery", "night", "contrast"}
    for name, colours in themes.items():
        least = 7.0 if name == "contrast" else 4.5
        for background in ("background", "surface"):
            for foreground in ("text", "muted", "link"):
                ratio = _contrast(colours[foreground], colours[background])
                assert ratio >= least, (name, foreground, background, ratio)
            # Focus outlines are non-text: WCAG 2.1 1.4.11 asks 3:1.
            assert _contrast(colours["focus"], colours[background]) >= 3.0, name
        if name == "contrast":
            assert _contrast(colours["text"], colours["background"]) == pytest.approx(21.0)


def test_focus_is_visible_and_the_skip_link_appears_on_focus() -> None:
    css = (Path(__file__).parents[2] / "exhibits/site/static/site.css").read_text()
    assert re.search(r":focus-visible\s*\{[^}]*outline:\s*3px solid var\(--focus\)", css)
    assert re.search(r"\.skip-link:focus\s*\{[^}]*top:\s*0\.5rem", css)
    assert re.search(r"\[hidden\]\s*\{\s*display:\s*none !important;", css)
