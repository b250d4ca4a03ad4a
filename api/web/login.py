"""Sign-in to the web pages (``router``, included by :func:`api.app.create_app`; not in the
OpenAPI document, as the other pages):

- ``GET /login``: the page a link of ``heritage login`` opens; its script
  (``/pages/login-page.js``) moves the token from the URL's fragment into the form and sends it
  (the token never reaches a server log or a Referer); it can be pasted too;
- ``POST /login`` (a form, ``token=…``): checks the token (:mod:`api.http.signin`): its
  signature, its expiry, that its signer is a keyholder of some community now, and that its
  nonce was never used; then starts a session and sets its cookie (HttpOnly, SameSite=Strict,
  Path=/, Secure over https) and goes on to ``/exhibits``. Refused: a 401/403 page, no cookie;
- ``POST /logout``: ends the session, clears the cookie.

Both POSTs are refused (403) unless their ``Origin`` header is the app's own, or ``null``
with ``Sec-Fetch-Site: same-origin`` (CSRF; :func:`_check_origin`).
:func:`api.web.session.signed_in` gives the pages the signed-in keyholder.
"""

from __future__ import annotations

import time
from typing import Final
from urllib.parse import parse_qs

from eth_utils.address import to_checksum_address
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from api.http.errors import Forbidden, Unauthorized
from api.http.signin import MAX_SIGN_IN, parse_token, sign_in_digest
from api.web.session import COOKIE, keyholder_of
from ledger.errors import HeritageError

__all__ = ["router"]

_HINT: Final = "make a new link with `heritage login --key ADDR` and open it"
_TITLES: Final = {401: "You are not signed in", 403: "Sign-in refused"}

router = APIRouter(include_in_schema=False)


def _page(request: Request, template: str, status: int = 200, **values: object) -> HTMLResponse:
    from api.web.pages import render_page

    return render_page(request, template, status, **values)


def _refused(request: Request, exc: HeritageError) -> HTMLResponse:
    status = exc.http_status if exc.http_status in _TITLES else 401
    return _page(
        request,
        "error.html",
        status,
        title=_TITLES[status],
        nav="",
        code=exc.code,
        message=exc.message,
        hint=exc.hint,
    )


def _check_origin(request: Request) -> None:
    """403 unless the request comes from a page of this app: its Origin is ours or, when the
    browser sends ``Origin: null`` (as it must for a POST from a page whose Referrer-Policy is
    no-referrer, as every page's is), its ``Sec-Fetch-Site`` is ``same-origin`` (a header no
    page can set)."""
    origin = request.headers.get("origin")
    own = f"{request.url.scheme}://{request.headers.get('host', '')}"
    if origin is not None and origin.rstrip("/") == own:
        return
    if origin == "null" and request.headers.get("sec-fetch-site") == "same-origin":
        return
    raise Forbidden(
        "this form was sent from another site (or with no Origin header) and is refused",
        hint="use the form on this site's own page",
    )


@router.get("/login", response_class=HTMLResponse)
async def login_page(request: Request) -> HTMLResponse:
    return _page(request, "login.html", title="Sign in", nav="")


async def _form_token(request: Request) -> str:
    body = await request.body()
    values = parse_qs(body.decode("utf-8", "replace"), max_num_fields=4)
    tokens = values.get("token", [])
    if len(tokens) != 1 or not tokens[0].strip():
        raise Unauthorized("no sign-in token was sent", hint=_HINT)
    return tokens[0].removeprefix("#").removeprefix("token=")


async def _check_token(request: Request, text: str) -> tuple[str, int]:
    from api.http.auth import _chain_id
    from ledger.consent import recover_signer
    from ledger.consent.typed_data import SignatureError

    token = parse_token(text)
    now = int(time.time())
    if token.expiry < now:
        raise Unauthorized("the sign-in link has expired", hint=_HINT)
    if token.expiry > now + MAX_SIGN_IN:
        raise Unauthorized(
            f"the sign-in link's expiry is more than {MAX_SIGN_IN // 3600} hours ahead",
            hint="make a link valid for at most 12 hours (`heritage login --valid-minutes`)",
        )
    chain_id = await _chain_id(request.app.state.service)
    digest = sign_in_digest(chain_id, token.signer, token.nonce, token.expiry)
    try:
        recovered = to_checksum_address(recover_signer(digest, token.signature))
    except SignatureError as exc:
        raise Unauthorized(f"the sign-in link's signature does not hold: {exc.message}") from None
    if recovered != token.signer:
        raise Unauthorized(
            "the sign-in link's signature is not its signer's (was it changed after signing, "
            "or signed for another chain?)",
            hint=_HINT,
        )
    if not await keyholder_of(request, token.signer):
        raise Forbidden(
            f"{token.signer} is not a keyholder of any community now",
            hint="sign in with the key of a current keyholder",
        )
    if not request.app.state.nonces.spend(token.signer, token.nonce, token.expiry, now):
        raise Unauthorized("this sign-in link was already used", hint=_HINT)
    return token.signer, token.expiry


def _cookie(request: Request, response: Response, value: str, max_age: int) -> None:
    response.set_cookie(
        COOKIE,
        value,
        max_age=max_age,
        path="/",
        secure=request.url.scheme == "https",
        httponly=True,
        samesite="strict",
    )


@router.post("/login", response_class=HTMLResponse)
async def login(request: Request) -> Response:
    try:
        _check_origin(request)
        signer, expiry = await _check_token(request, await _form_token(request))
    except HeritageError as exc:
        return _refused(request, exc)
    now = int(time.time())
    session = request.app.state.sessions.start(signer, expiry, now)
    root = str(request.scope.get("root_path", "")).rstrip("/")
    response = RedirectResponse(root + "/exhibits", status_code=303)
    response.headers["Cache-Control"] = "no-store"
    _cookie(request, response, session, expiry - now)
    return response


@router.post("/logout", response_class=HTMLResponse)
async def logout(request: Request) -> Response:
    try:
        _check_origin(request)
    except HeritageError as exc:
        return _refused(request, exc)
    session = request.cookies.get(COOKIE)
    if session:
        request.app.state.sessions.end(session)
    root = str(request.scope.get("root_path", "")).rstrip("/")
    response = RedirectResponse(root + "/exhibits", status_code=303)
    response.headers["Cache-Control"] = "no-store"
    _cookie(request, response, "", 0)
    return response
