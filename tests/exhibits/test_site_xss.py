"""Metadata is hostile until escaped: an XSS corpus in every description field, title, file
name, attribution, community name, method document and the exhibit's own title, rendered
through every template (index and every kind of item page, two languages, with a base URL so
IIIF and the sitemap are made too). Each page is parsed with an HTML parser and compared with
the same site rendered from harmless text: the same elements and attributes in the same order
(nothing injected), the hostile text back as text, the JSON blocks decoding to it exactly."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from exhibits.model import Exhibited, Kind, Lineage
from exhibits.site.render import site_files
from tests.exhibits.site_support import (
    BUILT_AT,
    CHAIN,
    COMMUNITY,
    Node,
    exhibited,
    parse_html,
    render,
    spec_of,
)
from tests.hypothesis_profiles import examples
from tests.reaching import reached, reaches
from tests.rights_support import public_terms

CORPUS = (
    "<script>alert(1)</script>",
    '"><img src=x onerror=alert(1)>',
    "' onmouseover='alert(1)' x='",
    "javascript:alert(document.domain)",
    "</script><script>alert(1)</script>",
    '{"a":"</script><!--<script>"}',
    "{{7*7}}",
    "{% for x in range(3) %}{{ x }}{% endfor %}",
    "${7*7} #{7*7} <%= 7*7 %>",
    "line\u2028separator\u2029paragraph",
    "<svg/onload=alert(1)>",
    "<a href=\"javascript:alert('x')\">click</a>",
    "&lt;script&gt; &amp; &#x3c;",
    "<!-- comment --> <![CDATA[ x ]]>",
    "<iframe srcdoc='<script>alert(1)</script>'></iframe>",
    "\u202eevil\u202c",
)
KINDS: tuple[Kind, ...] = ("model", "image", "audio", "video", "other")


def _description(text: str) -> dict[str, Any]:
    return {
        "title": {"en": text, "mi": text + " mi"},
        "description": {"en": text, "mi": text},
        "alt_text": {"en": text},
        "context": {"en": text},
        "transcript": {"en": text},
        "creator": text,
        "date": text,
        "subjects": [text],
        "place": {"name": text, "lat": -41.2, "lon": 174.7},
    }


def _items(text: str) -> list[Exhibited]:
    items = []
    for number, kind in enumerate(KINDS, start=1):
        items.append(
            exhibited(
                number,
                kind=kind,
                description=_description(text),
                terms=public_terms(COMMUNITY, attribution=text, location={"precision": "exact"}),
                community_name=text,
            )
        )
    # No description: the file name is the title; a derivative whose method is hostile.
    items.append(exhibited(7, kind="other", file_name=text))
    items.append(
        exhibited(
            8,
            kind="image",
            lineage=(
                Lineage(
                    items[0].candidate.key,
                    None,
                    {"method": text, "software": text, "tools": [{"name": text}]},
                    True,
                ),
            ),
        )
    )
    return items


def _site(tmp: Path, text: str) -> Path:
    spec = spec_of(("en", "mi"), title=text, base_url="https://example.org/reef/")
    return render(tmp, _items(text), spec)


def _skeleton(page: Node) -> list[tuple[str, tuple[str, ...]]]:
    return [(n.tag, tuple(name for name, _ in n.attr_list)) for n in page.iter()]


@pytest.fixture(scope="module")
def baseline(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _site(tmp_path_factory.mktemp("plain") / "out", "Plain words")


@pytest.mark.parametrize("payload", CORPUS, ids=range(len(CORPUS)))
def test_the_corpus_injects_nothing_and_survives_as_text(
    payload: str, baseline: Path, tmp_path: Path
) -> None:
    site = _site(tmp_path / "out", payload)
    pages = sorted(p.relative_to(site) for p in site.rglob("*.html"))
    assert pages == sorted(p.relative_to(baseline) for p in baseline.rglob("*.html"))
    for relative in pages:
        raw = (site / relative).read_bytes()
        page = parse_html(raw)
        # The same elements with the same attribute names, in the same order.
        assert _skeleton(page) == _skeleton(parse_html((baseline / relative).read_bytes()))
        for node in page.iter():
            for name, value in node.attrs.items():
                assert not name.startswith("on")
                if name in ("href", "src", "poster") and value is not None:
                    assert not value.strip().lower().startswith(("javascript:", "data:"))
        scripts = page.find_all("script")
        assert raw.count(b"</script>") == len(scripts)
        for script in scripts:
            if script.attrs.get("type") == "application/ld+json":
                assert "\u2028" not in script.text() and "<" not in script.text()
                value = json.loads(script.text())
                assert any(payload in string for string in _strings(value))
        text = page.text()
        assert payload in text, relative  # the title, at least, comes back as text
        if "{{7*7}}" in payload:
            assert "49" not in text
    _check_data_files(site, payload)


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in _strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return []


def _check_data_files(site: Path, payload: str) -> None:
    search = json.loads((site / "search.json").read_text("utf-8"))
    titles = [entry["title"]["en"] for entry in search["items"]]
    assert titles.count(payload) == 6  # five described items and the file-name title
    assert all(entry["subjects"] == [payload] for entry in search["items"][:5])
    manifest_path = site / "iiif" / ("0x" + "02" * 32) / "manifest.json"
    manifest = json.loads(manifest_path.read_text("utf-8"))
    assert manifest["label"]["en"] == [payload]
    assert manifest["requiredStatement"]["value"]["none"] == [payload]
    ET.fromstring((site / "sitemap.xml").read_bytes())  # still well-formed XML


def test_a_title_that_closes_the_head_stays_in_the_title(tmp_path: Path) -> None:
    payload = "</title></head><body><script>alert(1)</script>"
    site = render(tmp_path / "out", [exhibited(1, description={"title": {"en": payload}})])
    page = parse_html((site / "items" / ("0x" + "01" * 32) / "index.html").read_bytes())
    assert page.find_all("title")[0].text() == f"{payload} · Voices of the Reef"
    assert len(page.find_all("body")) == 1


# ---- any text at all -------------------------------------------------------------------------

_FRAGMENTS = ("<", ">", "&", '"', "'", "</script>", "<b>", "{{", "}}", "\u2028", "=", "on", "&amp;")
_TEXT = (
    st.lists(
        st.one_of(
            st.sampled_from(_FRAGMENTS),
            st.characters(exclude_categories=["Cs"], exclude_characters="\r\n\x00"),
        ),
        min_size=1,
        max_size=30,
    )
    .map("".join)
    .filter(lambda t: t.strip() == t and t != "")
)


@reaches(0.9)
@given(title=_TEXT, body=_TEXT)
@settings(max_examples=examples(200), deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_any_title_and_description_come_back_as_the_same_text(title: str, body: str) -> None:
    item = exhibited(
        1, kind="image", description={"title": {"en": title}, "description": {"en": body}}
    )
    files = site_files(
        spec_of(),
        (),
        [item],
        CHAIN,
        built_at=BUILT_AT,
        gallery=lambda *_: {},
        proofs=lambda *_, built_at: {},
    )
    page = parse_html(files[f"items/{item.item_id}/index.html"])
    headings = page.find_all("h1")
    assert [h.text() for h in headings] == [title]
    paragraphs = [
        p.text()
        for n in page.iter()
        if n.attrs.get("class") == "description"
        for p in n.find_all("p")
    ]
    assert paragraphs == [body]
    # ld+json, the interface words' page data, verify.js and item.js: nothing else runs.
    assert [n.tag for n in page.find_all("script")] == ["script"] * 4
    ld = json.loads(
        next(
            s for s in page.find_all("script") if s.attrs.get("type") == "application/ld+json"
        ).text()
    )
    assert (ld["name"], ld["description"]) == (title, body)
    index = parse_html(files["index.html"])
    link = index.by_id("item-list").find_all("a")[0]
    assert link.text() == title
    assert json.loads(files["search.json"])["items"][0]["title"] == {"en": title}
    reached()
