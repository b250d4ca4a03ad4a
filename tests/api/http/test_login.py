"""Signing in to the web pages (api/http/signin.py, api/web/login.py, ``heritage login``) on a
real collection (real anvil, the embedded node, tests/api/http/pages_support.py), with the
app under uvicorn, httpx and Debian's chromium (tests/browser_support.py):

- a link made by ``heritage login`` with a keystore key, opened in chromium, signs the
  keyholder in: /exhibits then lists its community's excluded items with their reasons and
  "Signed in as"; signing out ends it; no console error, no CSP violation;
- the token is the EIP-712 statement written out here (recovered with eth_account, not with
  our code), and its link carries it in the fragment;
- without the cookie, no reasons; a replayed, expired, too long, tampered or stranger's token
  and a cross-origin POST are refused with a page saying why, and no cookie;
- the cookie is HttpOnly, SameSite=Strict, Path=/, and Secure over https (uvicorn takes the
  scheme from X-Forwarded-Proto sent from 127.0.0.1, as from a proxy in front of it).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from eth_account import Account
from eth_account.messages import encode_typed_data

from api.http.auth import sign_request
from api.http.signin import SessionStore, sign_in_token
from ledger.keys import new_key
from ledger.registry import Registry
from ledger.settings import Settings
from tests.api.http.pages_support import HIDDEN, PagesWorld, make_pages_world
from tests.api.http.support import served_api
from tests.browser_support import Watch, keep_screenshot, launch
from tests.cli_runner import run_heritage
from tests.exhibits.site_support import parse_html
from tests.registry_support import PASSPHRASE, chain_settings, module_chain

REUSED_FIXTURES = (chain_settings, module_chain)
CHAIN_ID = 31337  # the session's anvil
HTML = {"Accept": "text/html,application/xhtml+xml"}
REASONS = "the excluded items of your communities are listed with the reasons"


@pytest.fixture(scope="module")
def world(module_chain: Settings, tmp_path_factory: pytest.TempPathFactory) -> PagesWorld:
    return make_pages_world(module_chain, tmp_path_factory.mktemp("login-world"))


@pytest.fixture(scope="module")
def base(world: PagesWorld) -> Iterator[str]:
    with served_api(world.settings) as url:
        yield url


def _keyholder(world: PagesWorld, community: bytes) -> str:
    with Registry(world.settings) as registry, registry.reader.event_index() as index:
        return str(next(iter(index.community(community).keyholders)))


def _key(world: PagesWorld, address: str) -> bytes:
    return bytes(world.signer_keys().unlock(address).key)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def built(base: str, world: PagesWorld) -> str:
    """An exhibit of Reef's items built over the API: Reef's hidden items are excluded."""
    chosen = [world.id(n) for n in world.keys if n not in ("legacy", "basket")]
    spec = (
        'title = "Reef"\nlanguages = ["en"]\n[select]\n'
        f'communities = ["0x{world.reef.hex()}"]\nitems = {json.dumps(chosen)}\n'
    ).encode()
    path = "/exhibits/reef-login"
    headers = sign_request(
        _key(world, _keyholder(world, world.reef)),
        chain_id=CHAIN_ID,
        method="POST",
        path=path,
        body=spec,
        community=world.reef,
        nonce=os.urandom(32),
        expiry=int(time.time()) + 120,
    )
    answer = httpx.post(base + path, content=spec, headers=headers, timeout=300)
    assert answer.status_code == 200, answer.text
    return "reef-login"


@pytest.fixture(scope="module")
def password_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("login-pass") / "pass.txt"
    path.write_text(PASSPHRASE + "\n")
    return path


def cli_login(world: PagesWorld, password_file: Path, signer: str, *args: str) -> dict[str, str]:
    proc = run_heritage(
        ["login", "--signer", signer, "--password-file", str(password_file), "--json", *args],
        env={
            "HERITAGE_DATA_DIR": str(world.settings.data_dir),
            "HERITAGE_RPC_URL": world.settings.rpc_url,
            "HERITAGE_DEPLOYMENT": str(world.settings.deployment),
            "HERITAGE_FSYNC": "false",
        },
    )
    assert proc.returncode == 0, proc.stderr
    answer: dict[str, str] = json.loads(proc.stdout)
    return answer


def post_login(base: str, token: str, origin: str | None = None, **headers: str) -> httpx.Response:
    sent = {**HTML, "Origin": base if origin is None else origin, **headers}
    return httpx.post(base + "/login", data={"token": token}, headers=sent, timeout=120)


def _hidden_ids(world: PagesWorld) -> set[str]:
    return {world.id(n) for n in HIDDEN}


def _listed(text: str, build: str) -> set[str]:
    tree = parse_html(text.encode())
    sections = [s for s in tree.find_all("section") if s.attrs.get("data-build") == build]
    return {
        str(li.attrs["data-item"])
        for s in sections
        for li in s.find_all("li")
        if "data-item" in li.attrs
    }


def test_the_cli_token_is_the_eip712_sign_in_statement(
    world: PagesWorld, password_file: Path, base: str
) -> None:
    signer = _keyholder(world, world.reef)
    before = int(time.time())
    answer = cli_login(world, password_file, signer, "--api", base + "/", "--valid-minutes", "30")
    token = answer["token"]
    assert answer["url"] == f"{base}/login#token={token}"
    assert urlsplit(answer["url"]).query == ""  # the token rides in the fragment only
    version, named, nonce, expiry, signature = token.split(".")
    assert (version, named, answer["signer"]) == ("v1", signer, signer)
    assert before + 1800 <= int(expiry) <= int(time.time()) + 1800
    # The statement written out from docs/api.md, recovered by eth_account.
    typed = {
        "types": {
            "EIP712Domain": [
                {"name": "name", "type": "string"},
                {"name": "version", "type": "string"},
                {"name": "chainId", "type": "uint256"},
            ],
            "SignIn": [
                {"name": "statement", "type": "string"},
                {"name": "signer", "type": "address"},
                {"name": "nonce", "type": "bytes32"},
                {"name": "expiry", "type": "uint256"},
            ],
        },
        "primaryType": "SignIn",
        "domain": {"name": "Heritage Ledger API", "version": "1", "chainId": CHAIN_ID},
        "message": {
            "statement": "Sign in to the web pages of the Heritage Ledger API",
            "signer": signer,
            "nonce": bytes.fromhex(nonce[2:]),
            "expiry": int(expiry),
        },
    }
    recovered = Account.recover_message(
        encode_typed_data(full_message=typed), signature=bytes.fromhex(signature[2:])
    )
    assert recovered == signer
    # A bad --signer and a key that is not in the keystore are clear errors.
    proc = run_heritage(["login", "--signer", "nobody"], env={})
    assert proc.returncode == 2 and "is not an address" in proc.stderr
    assert "Traceback" not in proc.stderr
    absent = Account.create().address
    proc = run_heritage(
        ["login", "--signer", absent, "--password-file", str(password_file)],
        env={"HERITAGE_DATA_DIR": str(world.settings.data_dir),
             "HERITAGE_DEPLOYMENT": str(world.settings.deployment)},
    )  # fmt: skip
    assert proc.returncode != 0 and proc.stderr.startswith("error[") and proc.stdout == ""
    assert "Traceback" not in proc.stderr


def test_signed_in_over_http_the_reasons_appear_and_logout_ends_it(
    world: PagesWorld, password_file: Path, base: str, built: str
) -> None:
    hidden = _hidden_ids(world)
    anyone = httpx.get(base + "/exhibits", headers=HTML)
    assert anyone.status_code == 200 and _listed(anyone.text, built) == set()
    assert not any(i in anyone.text for i in hidden) and "Signed in as" not in anyone.text
    token = cli_login(world, password_file, _keyholder(world, world.reef))["token"]
    answer = post_login(base, token)
    assert answer.status_code == 303, answer.text
    assert answer.headers["location"] == "/exhibits"
    (cookie,) = answer.headers.get_list("set-cookie")
    name, _, rest = cookie.partition("=")
    value = rest.split(";")[0]
    attributes = {a.strip().lower() for a in cookie.split(";")[1:]}
    assert name == "heritage_session" and len(value) >= 40
    assert {"httponly", "samesite=strict", "path=/"} <= attributes
    assert "secure" not in attributes  # plain http: a Secure cookie would never come back
    assert any(a.startswith("max-age=") for a in attributes)
    jar = {"heritage_session": value}
    mine = httpx.get(base + "/exhibits", headers=HTML, cookies=jar)
    assert mine.status_code == 200
    assert _listed(mine.text, built) == hidden
    assert REASONS in mine.text and "Signed in as" in mine.text
    assert world.reef_name not in mine.text  # the name is escaped, as every text
    # Another cookie value: no reasons.
    other = httpx.get(base + "/exhibits", headers=HTML, cookies={"heritage_session": "x" * 43})
    assert _listed(other.text, built) == set() and REASONS not in other.text
    # Logout from another origin is refused and ends nothing.
    refused = httpx.post(
        base + "/logout", headers={**HTML, "Origin": "http://evil.example"}, cookies=jar
    )
    assert refused.status_code == 403 and "another site" in refused.text
    assert _listed(httpx.get(base + "/exhibits", headers=HTML, cookies=jar).text, built)
    out = httpx.post(base + "/logout", headers={**HTML, "Origin": base}, cookies=jar)
    assert out.status_code == 303
    assert "max-age=0" in out.headers["set-cookie"].lower()
    after = httpx.get(base + "/exhibits", headers=HTML, cookies=jar)
    assert _listed(after.text, built) == set() and REASONS not in after.text


def _refused(answer: httpx.Response, status: int, words: str) -> None:
    assert answer.status_code == status, answer.text
    assert words in answer.text, answer.text
    assert "set-cookie" not in answer.headers
    assert answer.headers["content-security-policy"].startswith("default-src 'none'")


def test_replayed_expired_tampered_strangers_and_cross_origin_tokens_are_refused(
    world: PagesWorld, password_file: Path, base: str
) -> None:
    signer = _keyholder(world, world.reef)
    key = _key(world, signer)
    now = int(time.time())

    def token(expiry: int, signing: bytes = key) -> str:
        return sign_in_token(signing, chain_id=CHAIN_ID, nonce=os.urandom(32), expiry=expiry)

    once = cli_login(world, password_file, signer)["token"]
    _refused(post_login(base, once, origin="http://evil.example"), 403, "another site")
    _refused(post_login(base, once, origin=""), 403, "another site")
    assert post_login(base, once).status_code == 303  # the refused tries spent nothing
    _refused(post_login(base, once), 401, "already used")
    _refused(post_login(base, token(now - 5)), 401, "has expired")
    _refused(post_login(base, token(now + 13 * 3600)), 401, "more than 12 hours ahead")
    good = token(now + 600)
    version, named, nonce, expiry, signature = good.split(".")
    later = ".".join((version, named, nonce, str(int(expiry) + 60), signature))
    _refused(post_login(base, later), 401, "not its signer")
    other_chain = sign_in_token(key, chain_id=1, nonce=os.urandom(32), expiry=now + 600)
    _refused(post_login(base, other_chain), 401, "not its signer")
    _refused(post_login(base, good[:-6]), 401, "malformed")
    _refused(post_login(base, ""), 401, "no sign-in token")
    stranger = new_key(world.settings, PASSPHRASE, unsafe_light_kdf=True).address
    foreign = cli_login(world, password_file, stranger)["token"]
    _refused(post_login(base, foreign), 403, "not a keyholder of any community")
    assert post_login(base, good).status_code == 303  # untouched by the tampered copies


def test_the_cookie_is_secure_over_https(world: PagesWorld, base: str, built: str) -> None:
    signer = _keyholder(world, world.hill)
    expiry = int(time.time()) + 300
    token = sign_in_token(
        _key(world, signer), chain_id=CHAIN_ID, nonce=os.urandom(32), expiry=expiry
    )
    https = "https://" + base.split("://", 1)[1]
    answer = post_login(base, token, origin=https, **{"X-Forwarded-Proto": "https"})
    assert answer.status_code == 303, answer.text
    attributes = {a.strip().lower() for a in answer.headers["set-cookie"].split(";")[1:]}
    assert {"secure", "httponly", "samesite=strict", "path=/"} <= attributes
    max_age = next(int(a.split("=")[1]) for a in attributes if a.startswith("max-age="))
    assert 290 <= max_age <= 300  # the session ends with the token
    # Hill's keyholder, signed in, sees none of Reef's excluded items.
    value = answer.headers["set-cookie"].split(";")[0].split("=", 1)[1]
    hill = httpx.get(base + "/exhibits", headers=HTML, cookies={"heritage_session": value})
    assert "None of your community's items were left out." in hill.text
    assert not any(i in hill.text for i in _hidden_ids(world)) and REASONS in hill.text


def test_the_session_store_keeps_no_id_and_ends_sessions_at_their_expiry(
    tmp_path: Path,
) -> None:
    import hashlib
    import sqlite3

    store = SessionStore(tmp_path / "sessions.sqlite")
    first = store.start("0xA", expiry=100, now=50)
    second = store.start("0xB", expiry=300, now=50)
    assert first != second and len(first) >= 40
    assert store.find(first, now=100) == ("0xA", 100)
    assert store.find(first, now=101) is None  # expired
    assert store.find(first[:-1] + ("A" if first[-1] != "A" else "B"), now=60) is None
    store.start("0xC", expiry=400, now=200)  # deletes the expired first
    store.end(second)
    assert store.find(second, now=60) is None
    store.close()
    with sqlite3.connect(tmp_path / "sessions.sqlite") as db:
        rows = db.execute("SELECT id_hash, signer FROM sessions").fetchall()
    assert [r[1] for r in rows] == ["0xC"]
    assert hashlib.sha256(first.encode()).digest() not in [bytes(r[0]) for r in rows]
    data = (tmp_path / "sessions.sqlite").read_bytes()
    assert first.encode() not in data and second.encode() not in data


def test_sign_in_and_out_in_chromium(
    world: PagesWorld, password_file: Path, base: str, built: str
) -> None:
    hidden = _hidden_ids(world)
    url = cli_login(world, password_file, _keyholder(world, world.reef), "--api", base)["url"]
    with launch() as context:
        page = context.new_page()
        watch = Watch.on(page, base)
        page.goto(base + "/exhibits")
        assert page.locator("section.excluded-items").count() == 0
        page.goto(url)
        page.wait_for_selector("h1:not(:text-is('Sign in'))", timeout=0)  # the form was sent
        assert page.url == base + "/exhibits", page.locator("main").inner_text()
        assert page.locator("#sign-out").is_visible()
        assert "Signed in as" in page.locator("main").inner_text()
        listed = page.locator(f'section[data-build="{built}"] li[data-item]')
        assert {listed.nth(i).get_attribute("data-item") for i in range(listed.count())} == hidden
        keep_screenshot(page, "pages-signed-in")
        (cookie,) = [c for c in context.cookies() if c["name"] == "heritage_session"]
        assert cookie["httpOnly"] and cookie["sameSite"] == "Strict" and cookie["path"] == "/"
        assert page.evaluate("document.cookie") == ""  # out of the scripts' reach
        with page.expect_navigation(timeout=0):
            page.click("#sign-out")
        page.wait_for_load_state("load")
        assert page.locator("#sign-out").count() == 0
        assert page.locator("section.excluded-items").count() == 0
        assert [c for c in context.cookies() if c["name"] == "heritage_session"] == []
        watch.assert_clean()
        # The same link again: refused, and said so on the page (its 401 is the only error).
        page.goto(url)
        page.wait_for_selector("h1:not(:text-is('Sign in'))", timeout=0)
        assert page.locator("h1").inner_text() == "You are not signed in"
        assert "already used" in page.locator("main").inner_text()
        watch.collect()
        assert watch.csp_violations == [] and watch.outside_requests == []
        assert [e for e in watch.console_errors if "401" not in e] == []
