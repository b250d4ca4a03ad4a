"""The write side over HTTP, served for real (uvicorn, real anvil, the embedded node): a file
uploaded with its terms becomes a RegisterItem request, keyholders sign it offline with their
own keys, and ``POST /consent/submit`` registers it; custody and derivative requests the same
way. Refused writes (unsigned, expired, replayed, by a stranger, too large, malformed) store
nothing: the upload's bytes are in no block and no scratch file is left."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from eth_account import Account

from api.http.limits import ApiLimits
from ledger.consent.derivation import sign_registration
from ledger.consent.files import encode_signature, parse_request
from ledger.consent.status import sign_request
from ledger.crypto import KEM_X25519
from ledger.keys import new_key
from ledger.registry import Registry, SignerKeys
from ledger.settings import Settings
from local_chain import anvil_dev_account
from tests.api.http.support import get_json, served_api, signed_headers
from tests.ledger.test_crypto_workflow import leaks
from tests.registry_support import PASSPHRASE, chain_settings, module_chain, settings_on
from tests.rights_support import public_terms, restricted_terms

REUSED_FIXTURES = (chain_settings, module_chain)
CHAIN_ID = 31337  # the session's anvil
MAX_BODY = 256 << 10  # this module's upload limit, so an oversized upload stays small


@dataclass(frozen=True, slots=True)
class Site:
    settings: Settings
    weavers: bytes  # 2 of 3, keyholders with encryption keys
    hill: bytes  # 1 of 1
    keys: tuple[bytes, ...]  # Weavers' keyholders' private keys, by increasing address
    hill_key: bytes


@pytest.fixture(scope="module")
def site(module_chain: Settings, tmp_path_factory: pytest.TempPathFactory) -> Site:
    folder = tmp_path_factory.mktemp("api-writes")
    settings = settings_on(module_chain, folder / "data")
    with Registry(settings, sender=anvil_dev_account()) as registry:
        holders = sorted(
            (
                new_key(settings, PASSPHRASE, unsafe_light_kdf=True, encryption=KEM_X25519).address
                for _ in range(3)
            ),
            key=lambda a: int(a, 16),
        )
        keys = SignerKeys(settings, lambda _address: PASSPHRASE)
        registry.communities.create(f"Weavers-{folder.name}", holders, 2, keys)
        hill_holder = new_key(settings, PASSPHRASE, unsafe_light_kdf=True).address
        registry.communities.create(f"Hill-{folder.name}", [hill_holder], 1, keys)
        weavers = registry.reader.resolve_community(f"Weavers-{folder.name}")
        hill = registry.reader.resolve_community(f"Hill-{folder.name}")
        private = tuple(bytes(keys.unlock(a).key) for a in holders)
        hill_key = bytes(keys.unlock(hill_holder).key)
    return Site(settings, weavers, hill, private, hill_key)


@pytest.fixture(scope="module")
def client(site: Site) -> Iterator[httpx.Client]:
    limits = ApiLimits(max_body=MAX_BODY)
    with served_api(site.settings, limits) as url, httpx.Client(base_url=url, timeout=120) as c:
        yield c


# ---- what a client does ----------------------------------------------------------------------


def multipart(*parts: tuple[str, str | None, bytes]) -> tuple[bytes, str]:
    """A multipart/form-data body of (name, file name or None, bytes) parts, and its type."""
    boundary = "heritage-" + os.urandom(8).hex()
    body = b""
    for name, filename, data in parts:
        disposition = f'form-data; name="{name}"' + (
            f'; filename="{filename}"' if filename is not None else ""
        )
        body += f"--{boundary}\r\nContent-Disposition: {disposition}\r\n\r\n".encode()
        body += data + b"\r\n"
    body += f"--{boundary}--\r\n".encode()
    return body, f"multipart/form-data; boundary={boundary}"


def post(
    client: httpx.Client,
    path: str,
    body: bytes,
    content_type: str,
    key: bytes,
    community: bytes,
    **signing: Any,
) -> httpx.Response:
    headers = signed_headers(
        key, chain_id=CHAIN_ID, method="POST", path=path, community=community, body=body,
        **signing,
    )  # fmt: skip
    return client.post(path, content=body, headers={**headers, "Content-Type": content_type})


def post_json(
    client: httpx.Client, path: str, document: Any, key: bytes, community: bytes
) -> httpx.Response:
    return post(client, path, json.dumps(document).encode(), "application/json", key, community)


def upload(
    client: httpx.Client,
    site: Site,
    data: bytes,
    terms: dict[str, Any],
    *,
    name: str = "scan.obj",
    description: dict[str, Any] | None = None,
    key: bytes | None = None,
) -> httpx.Response:
    parts = [("file", name, data), ("terms", None, json.dumps(terms).encode())]
    if description is not None:
        parts.append(("description", None, json.dumps(description).encode()))
    body, content_type = multipart(*parts)
    return post(client, "/items", body, content_type, key or site.keys[0], site.weavers)


def signatures(answer: httpx.Response, *keys: bytes) -> list[Any]:
    request = parse_request(answer.content, "the answer")
    return [json.loads(encode_signature(sign_request(request, Account.from_key(k)))) for k in keys]


def submit(client: httpx.Client, site: Site, made: httpx.Response, *keys: bytes) -> httpx.Response:
    payload = {"request": made.json(), "signatures": signatures(made, *keys)}
    return post_json(client, "/consent/submit", payload, site.keys[0], site.weavers)


def stored(site: Site) -> bytes:
    return b"".join(p.read_bytes() for p in (site.settings.data_dir / "blocks").rglob("*.data"))


def scratch_left(site: Site) -> list[Path]:
    folder = site.settings.data_dir / "tmp"
    return sorted(folder.iterdir()) if folder.is_dir() else []


def error(response: httpx.Response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    assert response.json()["error"]["code"] == code, response.text


# ---- registration ------------------------------------------------------------------------------


def test_a_public_item_uploaded_signed_by_k_keyholders_and_listed(
    client: httpx.Client, site: Site
) -> None:
    data = b"comb scan " + os.urandom(3000)
    description = {"type": "heritage/description", "version": 1, "title": {"en": "Bone comb"}}
    made = upload(
        client, site, data, public_terms(site.weavers), name="comb.obj", description=description
    )
    assert made.status_code == 200, made.text
    request = parse_request(made.content, "the answer")
    assert request.action == "RegisterItem" and request.community == site.weavers
    assert made.json()["registration"] == {"encrypted": False}
    assert request.document is not None and request.document["name"] == "comb.obj"
    item = "0x" + request.subject.hex()
    assert item not in {i["id"] for i in get_json(client, "/items")["items"]}  # not yet sent
    # One signature of the two needed: refused, nothing sent.
    short = submit(client, site, made, site.keys[1])
    assert short.json()["error"]["code"] == "consent_incomplete", short.text
    sent = submit(client, site, made, site.keys[1], site.keys[2])
    assert sent.status_code == 200, sent.text
    assert sent.json()["item"] == item and sent.json()["cid"] == request.item
    listed = {i["id"]: i for i in get_json(client, "/items")["items"]}
    assert listed[item]["file_name"] == "comb.obj" and listed[item]["title"] == "Bone comb"
    assert get_json(client, f"/items/{item}")["cid"] == request.item
    # The same request again: the claim exists (a replay is refused, nothing sent).
    again = submit(client, site, made, site.keys[1], site.keys[2])
    error(again, 409, "duplicate_claim")
    assert scratch_left(site) == []


def test_a_restricted_item_never_appears_and_its_plaintext_never_reaches_the_node(
    client: httpx.Client, site: Site
) -> None:
    secret = b"sacred chant " + os.urandom(20_000)
    title = "Chant of " + os.urandom(6).hex()
    description = {"type": "heritage/description", "version": 1, "title": {"en": title}}
    made = upload(
        client, site, secret, restricted_terms(site.weavers), name="chant-recording.wav",
        description=description,
    )  # fmt: skip
    assert made.status_code == 200, made.text
    assert made.json()["registration"] == {"encrypted": True}
    for hidden in (b"chant-recording", title.encode()):
        assert hidden not in made.content
    sent = submit(client, site, made, site.keys[0], site.keys[2])
    assert sent.status_code == 200, sent.text
    item = sent.json()["item"]
    assert item not in {i["id"] for i in get_json(client, "/items")["items"]}
    error(client.get(f"/items/{item}"), 404, "not_found")
    blocks = stored(site)
    assert leaks(blocks, [secret]) == [] and title.encode() not in blocks
    assert scratch_left(site) == []


# ---- refusals ----------------------------------------------------------------------------------


def test_unsigned_expired_replayed_and_foreign_uploads_store_nothing(
    client: httpx.Client, site: Site
) -> None:
    data = b"never stored " + os.urandom(5000)
    body, content_type = multipart(
        ("file", "x.obj", data), ("terms", None, json.dumps(public_terms(site.weavers)).encode())
    )
    error(client.post("/items", content=body, headers={"Content-Type": content_type}), 401,
          "unauthorized")  # fmt: skip
    past = int(time.time()) - 5
    expired = post(client, "/items", body, content_type, site.keys[0], site.weavers, expiry=past)
    error(expired, 401, "unauthorized")
    stranger = bytes(Account.create().key)
    error(post(client, "/items", body, content_type, stranger, site.weavers), 403, "forbidden")
    # Hill's keyholder for Weavers: not one of its keyholders
    error(post(client, "/items", body, content_type, site.hill_key, site.weavers), 403, "forbidden")
    # signed for another body: the signature does not hold
    other, _ = multipart(("file", "x.obj", b"other"))
    headers = signed_headers(
        site.keys[0], chain_id=CHAIN_ID, method="POST", path="/items", community=site.weavers,
        body=other,
    )  # fmt: skip
    headers["Content-Type"] = content_type
    tampered = client.post("/items", content=body, headers=headers)
    error(tampered, 401, "unauthorized")
    assert leaks(stored(site), [data]) == []
    assert scratch_left(site) == []
    # a replay of a request that was made: refused the second time, nothing more stored
    nonce = os.urandom(32)
    first = post(client, "/items", body, content_type, site.keys[0], site.weavers, nonce=nonce)
    assert first.status_code == 200, first.text
    before = stored(site)
    replay = post(client, "/items", body, content_type, site.keys[0], site.weavers, nonce=nonce)
    error(replay, 401, "unauthorized")
    assert stored(site) == before and scratch_left(site) == []


def test_an_oversized_upload_is_refused_with_nothing_pinned_or_staged(
    client: httpx.Client, site: Site
) -> None:
    data = os.urandom(MAX_BODY + 1)
    body, content_type = multipart(
        ("terms", None, json.dumps(public_terms(site.weavers)).encode()), ("file", "big.obj", data)
    )
    declared = post(client, "/items", body, content_type, site.keys[0], site.weavers)
    error(declared, 413, "limit_exceeded")
    # Not declared (chunked): counted as it arrives, and cut.
    headers = signed_headers(
        site.keys[0], chain_id=CHAIN_ID, method="POST", path="/items", community=site.weavers,
        body=body,
    )  # fmt: skip

    def chunks() -> Iterator[bytes]:
        step = 16 << 10
        for start in range(0, len(body), step):
            yield body[start : start + step]

    counted = client.post(
        "/items", content=chunks(), headers={**headers, "Content-Type": content_type}
    )
    error(counted, 413, "limit_exceeded")
    assert leaks(stored(site), [data]) == []
    assert scratch_left(site) == []


@pytest.mark.parametrize(
    ("parts", "content_type", "status", "code"),
    [
        (None, "multipart/form-data; boundary=zzz", 400, "usage_error"),  # cut short
        (None, "application/json", 400, "usage_error"),  # not multipart
        ([("file", "a.obj", b"abc")], None, 400, "usage_error"),  # no terms
        ([("terms", None, b"{}")], None, 400, "usage_error"),  # no file
        ([("file", "a.obj", b"abc"), ("file", "b.obj", b"d")], None, 400, "usage_error"),
        ([("file", "a.obj", b"abc"), ("colour", None, b"red")], None, 400, "usage_error"),
        ([("file", "a.obj", b"abc"), ("terms", None, b"not json")], None, 400, "usage_error"),
        ([("file", "a.obj", b"a"), ("terms", None, b'{"type": "x"}')], None, 400, "invalid_terms"),
        (
            [("file", "a.obj", b"a"), ("terms", None, b"TERMS"), ("description", None, b"{}")],
            None,
            400,
            "invalid_description",
        ),
    ],
)
def test_malformed_uploads_get_a_stable_code(
    client: httpx.Client,
    site: Site,
    parts: list[tuple[str, str | None, bytes]] | None,
    content_type: str | None,
    status: int,
    code: str,
) -> None:
    if parts is None:
        body = b"--zzz\r\nContent-Disposition: form-data; name=\"file\"\r\n\r\nabc"
    else:
        terms = json.dumps(public_terms(site.weavers)).encode()
        sent = [(n, f, terms if d == b"TERMS" else d) for n, f, d in parts]
        body, content_type = multipart(*sent)
    assert content_type is not None
    answer = post(client, "/items", body, content_type, site.keys[0], site.weavers)
    error(answer, status, code)
    assert str(site.settings.data_dir) not in answer.text  # the server's folders are its own
    assert scratch_left(site) == []


# ---- custody and derivatives -------------------------------------------------------------------


def test_a_loan_and_a_derivatives_consent_requested_over_http(
    client: httpx.Client, site: Site
) -> None:
    made = upload(client, site, b"paddle " + os.urandom(900), public_terms(site.weavers))
    assert submit(client, site, made, site.keys[0], site.keys[1]).status_code == 200
    item = made.json()["item"]
    body = {"item": item, "action": "loan", "to": "0x" + site.hill.hex()}
    loan = post_json(client, "/consent/requests/custody", body, site.keys[0], site.weavers)
    assert loan.status_code == 200, loan.text
    request = parse_request(loan.content, "the answer")
    assert (request.action, request.custody_action) == ("RecordCustody", 2)
    sent = submit(client, site, loan, site.keys[1], site.keys[2])
    assert sent.status_code == 200, sent.text
    assert sent.json()["action"] == "loan"
    # a return names no borrower; a loan needs one
    bad = post_json(
        client, "/consent/requests/custody", {"item": item, "action": "loan"}, site.keys[0],
        site.weavers,
    )  # fmt: skip
    error(bad, 400, "usage_error")
    # An encrypted item's transfer re-wraps its content key: the server holds no key for it.
    sealed = upload(client, site, b"sealed " + os.urandom(900), restricted_terms(site.weavers))
    assert submit(client, site, sealed, site.keys[0], site.keys[1]).status_code == 200
    body = {"item": sealed.json()["item"], "action": "transfer", "to": "0x" + site.hill.hex()}
    moved = post_json(client, "/consent/requests/custody", body, site.keys[0], site.weavers)
    error(moved, 400, "usage_error")
    # Hill derives from the Weavers' item: Weavers' keyholders are asked to consent.
    derived, content_type = multipart(
        ("parent", None, item.encode()),
        ("file", "paddle-model.glb", b"glTF " + os.urandom(700)),
        ("terms", None, json.dumps(public_terms(site.hill)).encode()),
        ("method", None, b'{"method": "photogrammetry"}'),
    )
    asked = post(
        client, "/consent/requests/derivative", derived, content_type, site.hill_key, site.hill
    )
    assert asked.status_code == 200, asked.text
    consent = parse_request(asked.content, "the answer")
    assert consent.action == "ConsentDerivative" and consent.community == site.weavers
    assert bytes(consent.typed.message["community"]) == site.hill
    assert scratch_left(site) == []
    # Weavers' keyholders consent; Hill's keyholder signs the registration; Hill submits.
    registration = json.loads(
        encode_signature(sign_registration(consent, Account.from_key(site.hill_key)))
    )
    payload = {"request": asked.json(), "signatures": signatures(asked, *site.keys[:2])}
    unsigned = post_json(client, "/consent/submit", payload, site.hill_key, site.hill)
    error(unsigned, 400, "usage_error")  # the deriving community's signatures are missing
    payload["registration_signatures"] = [registration]
    by_steward = post_json(client, "/consent/submit", payload, site.keys[0], site.weavers)
    error(by_steward, 403, "forbidden")  # the deriving community submits it
    # a registration signed by a stranger does not count
    stranger = json.loads(encode_signature(sign_registration(consent, Account.create())))
    foreign = {**payload, "registration_signatures": [stranger]}
    error(post_json(client, "/consent/submit", foreign, site.hill_key, site.hill), 400,
          "consent_mismatch")  # fmt: skip
    derived_ok = post_json(client, "/consent/submit", payload, site.hill_key, site.hill)
    assert derived_ok.status_code == 200, derived_ok.text
    result = derived_ok.json()
    assert result["parent"] == "0x" + consent.subject.hex()
    assert result["parent_steward"] == "0x" + site.weavers.hex()
    listed = {i["id"]: i for i in get_json(client, "/items")["items"]}
    assert listed[result["item"]]["kind"] == "derivative"
    assert listed[result["item"]]["community"] == "0x" + site.hill.hex()


def test_a_folder_left_by_a_stopped_server_is_swept_and_a_live_one_kept(tmp_path: Path) -> None:
    from api.http.uploads import STALE_SECONDS, sweep_stale

    old, live, other = tmp_path / "upload-old", tmp_path / "upload-live", tmp_path / "keep-me"
    for folder in (old, live, other):
        (folder / "file").mkdir(parents=True)
        (folder / "file" / "scan.obj").write_bytes(b"x")
    now = time.time()
    os.utime(old, (now - STALE_SECONDS - 60, now - STALE_SECONDS - 60))
    os.utime(other, (now - STALE_SECONDS - 60, now - STALE_SECONDS - 60))
    assert sweep_stale(tmp_path, now) == [old]
    assert not old.exists() and live.exists() and other.exists()
