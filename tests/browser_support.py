"""Real-browser harness: Debian's chromium driven by Playwright, a static folder served over
HTTP on 127.0.0.1, and a watch on every page for what a site must never do.

- :class:`StaticServer`: serves a folder (stdlib ``http.server`` in a thread; no caching, so a
  test that changes a served file sees the change on the next fetch).
- :func:`launch`: chromium with the flags of ../shared/ARCHITECTURE.md (headless, SwiftShader
  WebGL, no background networking) and a fresh user-data-dir. ``heritage.test`` resolves to
  127.0.0.1, so a page can also be loaded from an origin that is not a secure context.
- :class:`Watch`: collects a page's console errors, uncaught exceptions, Content-Security-Policy
  violations (``securitypolicyviolation`` events and the console's "Refused to …" lines), failed
  requests and every request whose origin is not the server's; :meth:`Watch.assert_clean`.
- :func:`screenshot`: saves a PNG under build/test-artifacts/ and returns its bytes.
"""

from __future__ import annotations

import functools
import http.server
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final
from urllib.parse import urlsplit

from playwright.sync_api import BrowserContext, ConsoleMessage, Page, Request, sync_playwright
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

__all__ = [
    "ARTIFACTS",
    "CHROMIUM",
    "CHROMIUM_FLAGS",
    "INSECURE_HOST",
    "StaticServer",
    "Watch",
    "keep_screenshot",
    "launch",
    "screenshot",
]

CHROMIUM: Final = "/usr/bin/chromium"
CHROMIUM_FLAGS: Final = (
    "--headless",
    "--no-sandbox",
    "--enable-unsafe-swiftshader",
    "--use-angle=swiftshader",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
)
#: A host name the browser maps to 127.0.0.1: pages loaded by it are not a secure context.
INSECURE_HOST: Final = "heritage.test"
ARTIFACTS: Final = Path(__file__).resolve().parents[1] / "build" / "test-artifacts"

_TYPES: Final = {
    ".js": "text/javascript",
    ".mjs": "text/javascript",
    ".wasm": "application/wasm",
    ".json": "application/json",
    ".glb": "model/gltf-binary",
    ".svg": "image/svg+xml",
    ".css": "text/css",
    ".html": "text/html; charset=utf-8",
}


class _Handler(http.server.SimpleHTTPRequestHandler):
    extensions_map = {  # noqa: RUF012 (the base class declares it so)
        **http.server.SimpleHTTPRequestHandler.extensions_map,
        **_TYPES,
    }

    def end_headers(self) -> None:
        self.send_header("Cache-Control", "no-store")
        super().end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


class StaticServer:
    """A folder served on 127.0.0.1 (a free port) until :meth:`close`."""

    def __init__(self, root: Path) -> None:
        handler = functools.partial(_Handler, directory=str(root))
        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._server.daemon_threads = True
        self.port = int(self._server.server_address[1])
        self.origin = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def url(self, path: str = "", *, host: str = "127.0.0.1") -> str:
        return f"http://{host}:{self.port}/{path.lstrip('/')}"

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@contextmanager
def launch() -> Iterator[BrowserContext]:
    """A chromium context with a fresh profile, closed (and the profile removed) at exit."""
    with (
        tempfile.TemporaryDirectory(prefix="heritage-chromium-") as profile,
        sync_playwright() as p,
    ):
        context = p.chromium.launch_persistent_context(
            profile,
            executable_path=CHROMIUM,
            headless=True,
            args=[*CHROMIUM_FLAGS, f"--host-resolver-rules=MAP {INSECURE_HOST} 127.0.0.1"],
            viewport={"width": 960, "height": 720},
        )
        try:
            yield context
        finally:
            context.close()


_CSP_LISTENER: Final = """
window.__cspViolations = [];
document.addEventListener('securitypolicyviolation', (event) => {
  window.__cspViolations.push(
    `${event.violatedDirective} blocked ${event.blockedURI || 'inline'} in ${event.sourceFile}`);
}, true);
"""


@dataclass
class Watch:
    """What one page did wrong (see the module docstring); attach with :meth:`on`."""

    origins: tuple[str, ...]
    console_errors: list[str] = field(default_factory=list)
    csp_violations: list[str] = field(default_factory=list)
    outside_requests: list[str] = field(default_factory=list)
    failed_requests: list[str] = field(default_factory=list)
    page: Page | None = None

    @classmethod
    def on(cls, page: Page, *origins: str) -> Watch:
        watch = cls(origins=origins, page=page)
        page.add_init_script(_CSP_LISTENER)
        page.on("console", watch._console)
        page.on("pageerror", lambda error: watch.console_errors.append(f"uncaught: {error}"))
        page.on("request", watch._request)
        page.on("requestfailed", lambda r: watch.failed_requests.append(f"{r.url}: {r.failure}"))
        page.on(
            "response",
            lambda r: (
                watch.failed_requests.append(f"{r.url}: HTTP {r.status}")
                if r.status >= 400
                else None
            ),
        )
        return watch

    def _console(self, message: ConsoleMessage) -> None:
        text = message.text
        if "Content Security Policy" in text or "Content-Security-Policy" in text:
            self.csp_violations.append(text)
        if message.type == "error":
            self.console_errors.append(text)

    def _request(self, request: Request) -> None:
        url = request.url
        if url.startswith(("data:", "blob:", "about:")):
            return
        parts = urlsplit(url)
        if f"{parts.scheme}://{parts.netloc}" not in self.origins:
            self.outside_requests.append(url)

    def collect(self) -> None:
        """Pull the violations the page recorded into :attr:`csp_violations`."""
        if self.page is not None and not self.page.is_closed():
            recorded = self.page.evaluate("window.__cspViolations || []")
            for line in recorded:
                if line not in self.csp_violations:
                    self.csp_violations.append(line)

    def assert_clean(self) -> None:
        self.collect()
        assert self.console_errors == [], self.console_errors
        assert self.csp_violations == [], self.csp_violations
        assert self.outside_requests == [], self.outside_requests
        assert self.failed_requests == [], self.failed_requests


def screenshot(page: Page, name: str, selector: str | None = None) -> bytes:
    """A PNG of the page (or of one element), kept as build/test-artifacts/<name>.png."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    if selector is None:
        return page.screenshot(path=str(path))
    return page.locator(selector).screenshot(path=str(path))


def keep_screenshot(page: Page, name: str) -> None:
    """Keep a picture of the page for a person to look at, when the browser gives one.

    Only for artifacts that no assertion reads (tests that look at pixels call
    :func:`screenshot`, which must succeed). A page whose WebGL frame takes longer than the
    timeout under software rendering on a loaded machine gives no picture: a note says so
    instead of failing a test over a picture it does not check."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    try:
        page.screenshot(path=str(ARTIFACTS / f"{name}.png"), timeout=60_000)
    except PlaywrightTimeoutError as error:
        (ARTIFACTS / f"{name}.txt").write_text(f"no screenshot: {error}\n", "utf-8")
