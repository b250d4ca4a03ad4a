"""exhibits.build.secrets_of: what the leak scan looks for, for each excluded item; a text a
shown item carries as its own is not a secret. Checked through the real scan."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from exhibits.build import secrets_of
from exhibits.scan import check_clean
from ledger.errors import LeakFound
from tests.exhibits.test_select import candidate


def test_every_excluded_items_cid_key_titles_and_file_name_are_searched(tmp_path: Path) -> None:
    hidden = candidate("sacred-canoe", title="Waka tapu")
    kinds = [(s.kind, s.value) for s in secrets_of([hidden])]
    assert ("cid", hidden.cid) in kinds and ("key", hidden.key) in kinds
    assert {v for k, v in kinds if k == "text"} == {"Waka tapu", "sacred-canoe.jpg",
                                                    "sacred-canoe"}  # fmt: skip
    for leaked in ("Waka tapu", str(hidden.cid), hidden.item_id, "sacred-canoe"):
        page = tmp_path / leaked[:8] / "index.html"
        page.parent.mkdir()
        page.write_text(f"<p>{leaked}</p>")
        with pytest.raises(LeakFound):
            check_clean(page.parent, secrets_of([hidden]))


def test_a_sealed_item_is_searched_by_cid_and_key_alone() -> None:
    sealed = dataclasses.replace(candidate("x"), file_name="", sealed=True)
    assert [s.kind for s in secrets_of([sealed])] == ["cid", "key"]


def test_a_text_a_shown_item_carries_is_not_a_secret(tmp_path: Path) -> None:
    shown = dataclasses.replace(candidate("a", title="Untitled"), file_name="IMG_0001.jpg")
    hidden = dataclasses.replace(candidate("b", title="Untitled"), file_name="IMG_0001.jpg")
    texts = [s.value for s in secrets_of([hidden], [shown]) if s.kind == "text"]
    assert texts == []
    site = tmp_path / "site"
    site.mkdir()
    (site / "index.html").write_text("<li>Untitled</li><li>IMG_0001.jpg</li>")
    check_clean(site, secrets_of([hidden], [shown]))
    (site / "index.html").write_text(f"<li>Untitled</li><li>{hidden.item_id}</li>")
    with pytest.raises(LeakFound):
        check_clean(site, secrets_of([hidden], [shown]))


@pytest.mark.parametrize(
    ("excluded_title", "shown_title"),
    [
        ("Untitled", "UNTITLED"),  # ASCII, another case
        ("Ōtaki river", "ŌTAKI RIVER"),  # outside ASCII: full Unicode upper case
        ("Ōtaki river", "O\u0304taki River"),  # decomposed (NFD) and another case
    ],
)
def test_a_text_a_shown_item_carries_in_another_case_is_not_a_secret(
    tmp_path: Path, excluded_title: str, shown_title: str
) -> None:
    shown = dataclasses.replace(candidate("a", title=shown_title), file_name="IMG_0001.JPG")
    hidden = dataclasses.replace(candidate("b", title=excluded_title), file_name="img_0001.jpg")
    site = tmp_path / "site"
    site.mkdir()
    (site / "index.html").write_text(f"<li>{shown_title}</li><li>IMG_0001.JPG</li>")
    # the scan itself takes the shown item's texts for the excluded item's (another case)...
    with pytest.raises(LeakFound):
        check_clean(site, secrets_of([hidden]))
    # ...so the exemption folds case as it does: nothing of them is a secret
    assert [s.value for s in secrets_of([hidden], [shown]) if s.kind == "text"] == []
    check_clean(site, secrets_of([hidden], [shown]))
    (site / "index.html").write_text(f"<li>{shown_title}</li><li>{hidden.item_id}</li>")
    with pytest.raises(LeakFound):
        check_clean(site, secrets_of([hidden], [shown]))


def test_a_text_that_differs_in_more_than_case_is_still_a_secret() -> None:
    shown = candidate("a", title="Untitled 1")
    hidden = candidate("b", title="Untitled 2")
    texts = [s.value for s in secrets_of([hidden], [shown]) if s.kind == "text"]
    assert "Untitled 2" in texts
