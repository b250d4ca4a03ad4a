"""The web pages in a real browser (Debian's chromium through Playwright, tests/browser_support.py)
against the API app under uvicorn on a real collection (tests/api/http/pages_support.py):

- every page loads with no console error, no CSP violation, no failed request and no request
  to any origin but the app's, and hostile titles reach the DOM as text (no dialog opens);
- the verify page, given the registered file, says it is the registered original of the right
  community under terms that still stand (in words: the license's published name); given the
  same file with one byte changed, that it is not registered; given a revoked item's file,
  that its terms are revoked, without a word of the hidden item;
- a file dropped on the verify page of an origin that is not a secure context (where WebCrypto
  is absent and the bundled SHA-256 runs) gives the same verdict.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import BrowserContext, Page

from ledger.settings import Settings
from tests.api.http.pages_support import CORPUS, HIDDEN, PagesWorld, make_pages_world
from tests.api.http.support import served_api
from tests.browser_support import INSECURE_HOST, Watch, keep_screenshot, launch
from tests.registry_support import chain_settings, module_chain

REUSED_FIXTURES = (chain_settings, module_chain)


@pytest.fixture(scope="module")
def world(module_chain: Settings, tmp_path_factory: pytest.TempPathFactory) -> PagesWorld:
    return make_pages_world(module_chain, tmp_path_factory.mktemp("pages-browser"))


@pytest.fixture(scope="module")
def base(world: PagesWorld) -> Iterator[str]:
    with served_api(world.settings) as url:
        yield url


@pytest.fixture(scope="module")
def browser() -> Iterator[BrowserContext]:
    with launch() as context:
        yield context


@pytest.fixture
def page(browser: BrowserContext) -> Iterator[Page]:
    page = browser.new_page()
    try:
        yield page
    finally:
        page.close()


def watched(page: Page, base: str) -> tuple[Watch, list[str]]:
    port = base.rsplit(":", 1)[1]
    watch = Watch.on(page, base, f"http://{INSECURE_HOST}:{port}")
    dialogs: list[str] = []

    def dialog(d: object) -> None:
        dialogs.append(str(getattr(d, "message", d)))
        d.dismiss()  # type: ignore[attr-defined]

    page.on("dialog", dialog)
    return watch, dialogs


def test_every_page_loads_clean_and_hostile_text_stays_text(
    page: Page, base: str, world: PagesWorld
) -> None:
    watch, dialogs = watched(page, base)
    paths = ["/", "/catalogue?page=2", "/catalogue?q=script", "/verify", "/exhibits"]
    paths.append(f"/catalogue/items/{world.id('anchor')}")
    for path in paths:
        page.goto(base + path)
        page.wait_for_load_state("load")
        assert page.locator("h1").first.inner_text() != ""
    for number in (0, 1, 2, 4, 10, 14):
        page.goto(f"{base}/catalogue/items/{world.id(f'xss-{number}')}")
        page.wait_for_load_state("load")
        assert page.locator("h1").first.text_content() == CORPUS[number]
    page.goto(base + "/")
    keep_screenshot(page, "pages-catalogue")
    page.goto(base + "/exhibits")
    assert page.locator("h1").inner_text() == "Exhibits"  # the page, not the JSON
    assert page.evaluate("document.querySelectorAll('img, iframe, svg').length") == 0
    watch.assert_clean()
    assert dialogs == []


def test_the_search_form_searches_and_filters(page: Page, base: str, world: PagesWorld) -> None:
    watch, dialogs = watched(page, base)
    page.goto(base + "/catalogue")
    page.fill("#search-text", "NAVIGATION")
    page.click("button[type=submit]")
    page.wait_for_url("**/catalogue?q=NAVIGATION*", timeout=0)
    assert page.locator("#item-list li").count() == 1
    assert page.locator("#item-list a").inner_text() == "Anchor stone"
    page.fill("#search-text", "")
    page.select_option("#filter-license", "CC0-1.0")
    page.click("button[type=submit]")
    page.wait_for_url("**license=CC0-1.0*", timeout=0)
    page.click("#item-list a")
    page.wait_for_url(f"**/catalogue/items/{world.id('basket')}", timeout=0)
    assert page.locator("h1").inner_text() == "Hill basket"
    keep_screenshot(page, "pages-item")
    assert "Creative Commons Zero v1.0 Universal" in page.locator("main").inner_text()
    watch.assert_clean()
    assert dialogs == []


def _verdict(page: Page) -> tuple[str, str]:
    page.wait_for_selector(
        '#verify-verdict:not([data-status="working"]):not([data-status="idle"])', timeout=0
    )
    locator = page.locator("#verify-verdict")
    return str(locator.get_attribute("data-status")), locator.inner_text()


def test_the_verify_page_says_registered_or_not_registered(
    page: Page, base: str, world: PagesWorld, tmp_path: Path
) -> None:
    watch, dialogs = watched(page, base)
    page.goto(base + "/verify")
    page.set_input_files("#verify-file", str(world.files["anchor"]))
    status, text = _verdict(page)
    assert status == "verified"
    assert "Registered original" in text
    assert f"community {world.reef_name} (0x{world.reef.hex()})" in text
    assert world.cids["anchor"] in text
    assert "they still stand" in text
    assert "License: Creative Commons Attribution 4.0 International (CC-BY-4.0)" in text
    assert "Label: TK Attribution (TK A)" in text
    assert "Anchor stone" in text  # the link to its catalogue page
    keep_screenshot(page, "pages-verify")
    changed = bytearray(world.files["anchor"].read_bytes())
    changed[500] ^= 0x01
    copy = tmp_path / "anchor-copy.bin"
    copy.write_bytes(bytes(changed))
    page.set_input_files("#verify-file", str(copy))
    page.wait_for_selector('#verify-verdict[data-status="unknown"]', timeout=0)
    text = page.locator("#verify-verdict").inner_text()
    assert "Not registered" in text and world.reef_name not in text
    # Registered with Kubo's CIDv0 default: found by the second CID the page computes.
    assert world.cids["legacy"].startswith("Qm")
    page.set_input_files("#verify-file", str(world.files["legacy"]))
    page.wait_for_selector(
        f'#verify-verdict[data-status="verified"]:has-text("{world.cids["legacy"]}")', timeout=0
    )
    text = page.locator("#verify-verdict").inner_text()
    assert "Registered original" in text and "Legacy paddle" in text
    page.set_input_files("#verify-file", str(world.files["drum"]))
    page.wait_for_selector('#verify-verdict[data-status="revoked"]', timeout=0)
    text = page.locator("#verify-verdict").inner_text()
    assert "Registered, but its terms are revoked" in text
    assert "they are revoked" in text and world.reef_name in text
    assert all(word not in page.content() for word in HIDDEN["drum"])
    watch.assert_clean()
    assert dialogs == []


def test_a_file_dropped_where_webcrypto_is_absent(page: Page, base: str, world: PagesWorld) -> None:
    watch, dialogs = watched(page, base)
    port = base.rsplit(":", 1)[1]
    page.goto(f"http://{INSECURE_HOST}:{port}/verify")
    assert page.evaluate("window.isSecureContext") is False
    data = list(world.files["basket"].read_bytes())
    transfer = page.evaluate_handle(
        """(bytes) => {
          const transfer = new DataTransfer();
          transfer.items.add(new File([new Uint8Array(bytes)], 'basket.bin'));
          return transfer;
        }""",
        data,
    )
    page.dispatch_event("#verify-drop", "drop", {"dataTransfer": transfer})
    status, text = _verdict(page)
    assert status == "verified"
    assert f"Hill-{world.settings.data_dir.parent.name}" in text
    assert world.cids["basket"] in text
    assert "License: Creative Commons Zero v1.0 Universal (CC0-1.0)" in text
    watch.assert_clean()
    assert dialogs == []
