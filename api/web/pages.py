"""The web pages' routes (``router``, included by :func:`api.app.create_app`), none of them in
the OpenAPI document:

- ``GET /`` and ``GET /catalogue``: the public items (the rule of ``GET /items``), searched by
  title, subject or community, filtered by community, label and license, a page at a time;
- ``GET /catalogue/items/{id}``: one public item with its terms in words (404 page for any
  other, exactly as for an item that does not exist); ``…/terms.json``: those words for the
  verify page's script (``{"public": false}`` for any other item);
- ``GET /verify``: drop or choose a file; the browser computes its CID with the exhibit site's
  own code (exhibits/site/static/js/verify.js, served from that package) and asks
  ``GET /verify/{cid}``;
- ``GET /exhibits`` asked for as HTML (a browser's ``Accept: text/html``; any other request
  of that path is the JSON endpoint): each build's shown and excluded counts, and to a
  request signed by a keyholder (docs/api.md), or of a keyholder signed in (api.web.login),
  the excluded items of its communities with why;
- ``GET /pages/{file}``: the pages' style sheet and scripts.

Every page comes from ONE jinja2 environment (this package's templates, autoescaped, undefined
names an error) and is answered with a Content-Security-Policy header that allows scripts,
styles, images and requests from the app's own origin only, and no inline script at all.
"""

from __future__ import annotations

import functools
import hashlib
import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Final

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, JSONResponse, Response
from fastapi.routing import APIRoute
from jinja2 import Environment, PackageLoader, StrictUndefined
from starlette.routing import Match
from starlette.types import Scope

from api.http.service import Service
from api.web.views import ItemView, Query, find_public, item_view, search, terms_view
from ledger.errors import HeritageError, NotFound

__all__ = ["CSP", "STATIC_FILES", "HtmlRoute", "page_environment", "render_page", "router"]

#: The policy of every page: the app's own origin only, no inline script, no framing.
CSP: Final = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)
_HEADERS: Final = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}
_HERE: Final = resources.files("api.web") / "static"
_SITE: Final = resources.files("exhibits.site") / "static"
#: The files under ``/pages/``: this package's own, and the exhibit site's CID code and icon
#: served as they are (one implementation of UnixFS and SHA-256 for both).
STATIC_FILES: Final = {
    "pages.css": (_HERE / "pages.css", "text/css; charset=utf-8"),
    "verify-page.js": (_HERE / "verify-page.js", "text/javascript; charset=utf-8"),
    "login-page.js": (_HERE / "login-page.js", "text/javascript; charset=utf-8"),
    "verify.js": (_SITE / "js" / "verify.js", "text/javascript; charset=utf-8"),
    "sha256.js": (_SITE / "js" / "sha256.js", "text/javascript; charset=utf-8"),
    "favicon.svg": (_SITE / "favicon.svg", "image/svg+xml"),
}
#: A build's folder name, as ``GET /exhibits`` takes it.
_BUILD_NAME: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")

_ERROR_TITLES: Final = {
    400: "That request cannot be answered",
    401: "The signature does not hold",
    403: "Not a keyholder of this community",
    404: "Not found",
    503: "The registry does not answer",
}

router = APIRouter(include_in_schema=False)


@functools.cache
def page_environment() -> Environment:
    """The one environment of the pages: this package's templates, every one autoescaped,
    strict about undefined names, no extensions."""
    return Environment(
        loader=PackageLoader("api.web", "templates"),
        autoescape=True,
        undefined=StrictUndefined,
        auto_reload=False,
    )


def _service(request: Request) -> Service:
    service: Service = request.app.state.service
    return service


def _root(request: Request) -> str:
    return str(request.scope.get("root_path", "")).rstrip("/")


def _page(request: Request, template: str, status: int = 200, **values: Any) -> HTMLResponse:
    html = page_environment().get_template(template).render(root=_root(request), **values)
    return HTMLResponse(html, status_code=status, headers=_HEADERS)


#: A page of this environment with the pages' headers (for api.web.login).
render_page = _page


def _error_page(request: Request, exc: HeritageError) -> HTMLResponse:
    status = exc.http_status if 400 <= exc.http_status < 600 else 500
    return _page(
        request,
        "error.html",
        status,
        title=_ERROR_TITLES.get(status, "Something went wrong"),
        nav="",
        code=exc.code,
        message=exc.message,
        hint=exc.hint,
    )


@router.get("/", response_class=HTMLResponse)
@router.get("/catalogue", response_class=HTMLResponse)
async def catalogue_page(request: Request) -> HTMLResponse:
    service = _service(request)
    try:
        query = Query.parse(request.query_params)
        listing = await run_in_threadpool(lambda: search(service.catalogue(), query))
    except HeritageError as exc:
        return _error_page(request, exc)
    return _page(request, "catalogue.html", title="Catalogue", nav="catalogue", listing=listing)


@router.get("/catalogue/items/{item}", response_class=HTMLResponse)
async def item_page(request: Request, item: str) -> HTMLResponse:
    service = _service(request)

    def work() -> ItemView:
        catalogue = service.catalogue()
        entry = find_public(catalogue, item)
        if entry is None:
            # The same page for an item that does not exist and one that is not public.
            raise NotFound(
                "there is no public item with this id",
                hint="find public items in the catalogue",
            )
        return item_view(catalogue, entry)

    try:
        view = await run_in_threadpool(work)
    except HeritageError as exc:
        return _error_page(request, exc)
    return _page(request, "item.html", title=view.title, nav="catalogue", item=view)


@router.get("/catalogue/items/{item}/terms.json")
async def item_terms(request: Request, item: str) -> JSONResponse:
    """A public item's terms in words for the verify page; ``{"public": false}`` for any
    other id (never a 404, so a page's script meets no error for a registered private item)."""
    service = _service(request)

    def work() -> dict[str, Any]:
        entry = find_public(service.catalogue(), item)
        if entry is None:
            return {"public": False}
        terms = terms_view(entry)
        return {
            "public": True,
            "item": entry.candidate.item_id,
            "title": entry.title,
            "href": f"/catalogue/items/{entry.candidate.item_id}",
            "terms": None if terms is None else terms.words,
            "attribution": None if terms is None else terms.attribution,
        }

    headers = {"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"}
    return JSONResponse(await run_in_threadpool(work), headers=headers)


@router.get("/verify", response_class=HTMLResponse)
async def verify_page(request: Request) -> HTMLResponse:
    return _page(request, "verify.html", title="Verify a file", nav="verify")


@dataclass(frozen=True, slots=True)
class Excluded:
    id: str
    sealed: bool
    reasons: tuple[tuple[str, str], ...]  # (code, message) of each denying reason


@dataclass(frozen=True, slots=True)
class Build:
    name: str
    title: str
    built_at: str
    shown: int
    excluded: int
    mine: tuple[Excluded, ...]  # for a signed keyholder: its community's excluded items


def _title(value: Any) -> str:
    if isinstance(value, dict) and value:
        text = value.get("en", next(iter(value.values())))
        return text if isinstance(text, str) else ""
    return ""


def _mine(report: dict[str, Any], communities: frozenset[bytes]) -> tuple[Excluded, ...]:
    ours = {"0x" + c.hex() for c in communities}
    out = []
    for item in report.get("items", ()):
        if not isinstance(item, dict) or item.get("shown") is not False:
            continue
        if str(item.get("community", "")).lower() not in ours:
            continue
        reasons = tuple(
            (str(r.get("code", "")), str(r.get("message", "")))
            for r in item.get("reasons", ())
            if isinstance(r, dict) and r.get("denies")
        )
        out.append(Excluded(str(item.get("id", "")), bool(item.get("sealed")), reasons))
    return tuple(out)


def _builds(root: Path, communities: frozenset[bytes] | None) -> list[Build]:
    from exhibits.report import read_previous

    out: list[Build] = []
    if not root.is_dir():
        return out
    for folder in sorted(root.iterdir()):
        if not folder.is_dir() or _BUILD_NAME.fullmatch(folder.name) is None:
            continue
        report = read_previous(folder.with_name(folder.name + ".report.json"))
        if report is None:
            continue
        counts = report.get("counts")
        counts = counts if isinstance(counts, dict) else {}
        out.append(
            Build(
                name=folder.name,
                title=_title(report.get("title")),
                built_at=str(report.get("built_at") or ""),
                shown=int(counts.get("shown", 0)),
                excluded=int(counts.get("excluded", 0)),
                mine=() if communities is None else _mine(report, communities),
            )
        )
    return out


def _wants_html(scope: Scope) -> bool:
    for name, value in scope.get("headers", ()):
        if name == b"accept":
            return b"text/html" in value.lower()
    return False


class HtmlRoute(APIRoute):
    """A route taken only by a request that asks for HTML (a browser's navigation); any other
    request of the same path goes on to the JSON endpoint there."""

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        match, child = super().matches(scope)
        if match is not Match.NONE and not _wants_html(scope):
            return Match.NONE, {}
        return match, child


async def exhibits_page(request: Request) -> HTMLResponse:
    from api.http.auth import require_keyholder
    from api.web.session import signed_in

    service = _service(request)
    try:
        community = None
        session = None
        if "x-heritage-signer" in request.headers:
            community = (await require_keyholder(request)).community
        else:
            session = await signed_in(request)
        communities = (
            frozenset((community,))
            if community is not None
            else None
            if session is None
            else frozenset(session.communities)
        )
        builds = await run_in_threadpool(_builds, service.exhibits, communities)
    except HeritageError as exc:
        return _error_page(request, exc)
    return _page(
        request,
        "exhibits.html",
        title="Exhibits",
        nav="exhibits",
        builds=builds,
        community=None if community is None else "0x" + community.hex(),
        session=session,
    )


router.add_api_route(
    "/exhibits",
    exhibits_page,
    methods=["GET"],
    response_class=HTMLResponse,
    route_class_override=HtmlRoute,
)


@functools.cache
def _static(name: str) -> tuple[bytes, str, str]:
    path, media_type = STATIC_FILES[name]
    data = path.read_bytes()
    return data, media_type, '"' + hashlib.sha256(data).hexdigest()[:32] + '"'


@router.get("/pages/{name}")
async def static_file(request: Request, name: str) -> Response:
    if name not in STATIC_FILES:
        return _error_page(request, NotFound(f"no page file named {name[:80]!r}"))
    data, media_type, etag = _static(name)
    headers = {
        "ETag": etag,
        "Cache-Control": "no-cache",
        "X-Content-Type-Options": "nosniff",
    }
    if request.headers.get("if-none-match") == etag:
        return Response(status_code=304, headers=headers)
    return Response(data, media_type=media_type, headers=headers)
