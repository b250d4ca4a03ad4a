"""The site's interface words (exhibits.ui_text): one catalog, translated per language by the
spec's ``[ui.<language>]`` tables. A translation appears on the page of that language as the
text written (escaped: checked by parsing the page), a missing key falls back to English and
the build report lists it, and a key the catalog does not have is refused (exit 4, named)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from exhibits.model import Choice
from exhibits.report import build_report
from exhibits.spec import parse_spec
from exhibits.ui_text import UI_TEXT, UiText
from ledger.errors import ExitCode, InvalidExhibitSpec
from tests.exhibits.site_support import CHAIN, exhibited, parse_html, render

HEAD = 'title = "Ngā Taonga"\nlanguages = ["mi", "en"]\n[select]\ncommunities = ["Reef People"]\n'
TRANSLATED = {
    "item.details": 'Ngā <b>taipitopito</b> & "ētahi atu"',
    "item.description": "Whakaahuatanga",
    "verify.button": "Manatoko </script> ngā kōnae",
    "search.items": "taonga",
}


def spec_text(table: dict[str, str], language: str = "mi") -> str:
    return (
        HEAD
        + f"[ui.{language}]\n"
        + "".join(
            f"{json.dumps(k)} = {json.dumps(v, ensure_ascii=False)}\n" for k, v in table.items()
        )
    )


def by_id(page: object, ident: str) -> str:
    for node in page.iter():  # type: ignore[attr-defined]
        if node.attrs.get("id") == ident:
            return str(node.text())
    raise AssertionError(f"no #{ident}")


def test_a_translated_word_is_on_the_page_of_its_language_escaped(tmp_path: Path) -> None:
    spec = parse_spec(spec_text(TRANSLATED))
    item = exhibited(
        1, kind="image",
        description={"title": {"mi": "Waka", "en": "Canoe"}, "description": {"mi": "He waka",
                                                                             "en": "A canoe"}},
    )  # fmt: skip
    site = render(tmp_path / "out", [item], spec)
    raw = (site / "items" / item.item_id / "index.html").read_bytes()
    page = parse_html(raw)
    # The text as written, markup and all, and never as markup.
    assert by_id(page, "details-heading") == TRANSLATED["item.details"]
    assert by_id(page, "verify") == TRANSLATED["verify.button"]
    assert b"<b>taipitopito</b>" not in raw and b"</script> ng" not in raw
    # A word the spec does not translate: English.
    assert by_id(page, "provenance-heading") == UI_TEXT["provenance"]
    # Inside each language's block, that block's language: translated for mi, English for en.
    headings = {
        node.attrs.get("data-lang"): [h.text() for h in node.find_all("h2")]
        for node in page.iter()
        if node.attrs.get("class") == "l10n" and node.find_all("h2")
    }
    assert headings == {"mi": ["Whakaahuatanga"], "en": ["Description"]}
    # The scripts' words come as page data (JSON that parses, in the site's language).
    data = json.loads(by_id(page, "ui-text"))
    assert data["verify.button"] == TRANSLATED["verify.button"]
    assert data["verify.verified"] == UI_TEXT["verify.verified"]
    index = parse_html((site / "index.html").read_bytes())
    assert by_id(index, "search-count") == "1 " + UI_TEXT["search.item"]
    assert json.loads(by_id(index, "ui-text"))["search.items"] == "taonga"


def test_an_english_site_reads_the_catalog(tmp_path: Path) -> None:
    spec = parse_spec(
        'title = "Reef"\nlanguages = ["en"]\n[select]\ncommunities = ["Reef People"]\n'
    )
    item = exhibited(1, kind="image")
    page = parse_html((render(tmp_path / "o", [item], spec) / "items" / item.item_id /
                       "index.html").read_bytes())  # fmt: skip
    assert by_id(page, "details-heading") == "Details"
    assert by_id(page, "verify") == "Verify these files"


@pytest.mark.parametrize(
    ("text", "pointer", "rule"),
    [
        (spec_text({"item.detials": "x"}), "/ui/mi/item.detials", "ui-key"),
        (spec_text({"item.details": "x"}, "fr"), "/ui/fr", "ui-language"),
        (spec_text({"Item Details!": "x"}), "/ui/mi", None),  # not a key's shape: the schema
    ],
)
def test_an_unknown_key_or_language_is_an_invalid_spec(
    text: str, pointer: str, rule: str | None
) -> None:
    with pytest.raises(InvalidExhibitSpec) as caught:
        parse_spec(text)
    assert caught.value.exit_code == int(ExitCode.SPEC_INVALID) == 4
    problems = caught.value.problems
    assert any(p.pointer.startswith(pointer) for p in problems), problems
    if rule is not None:
        assert any(p.rule == rule for p in problems)
        assert pointer.rsplit("/", 1)[-1] in caught.value.message  # named


def test_the_report_lists_the_words_left_in_english() -> None:
    spec = parse_spec(spec_text(TRANSLATED))
    now = datetime(2026, 12, 1, tzinfo=UTC)
    report = build_report(spec, Choice((), (), ()), CHAIN, built_at=now, at=now)
    assert report["ui_missing"] == {"mi": sorted(set(UI_TEXT) - set(TRANSLATED))}
    assert UiText().missing(["en", "en-GB"]) == {}
    # The canonical form keeps the translations (a spec without them keeps its old form).
    assert spec.to_json()["ui"] == {"mi": TRANSLATED}
    assert "ui" not in parse_spec(HEAD).to_json()
