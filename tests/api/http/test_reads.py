"""The read endpoints and signed requests against a real collection (the exhibit tests'
world: real anvil, the embedded IPFS node, two communities, items of every kind of terms),
over HTTP (uvicorn, httpx).

Known answers come from how the world was made (tests/exhibits/build_support.py), not from
the API: six items are public now (anchor, bowl, kite-expiring until 2030, net and paddle of
a batch, anchor-restored); drum-revoked is revoked, shared-shell disputed by two communities,
sacred-sea sealed, tide-embargoed under embargo."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from eth_account import Account

from ledger.index import EventIndex
from ledger.registry import Registry
from ledger.settings import Settings
from tests.api.http.support import get_json, served_api, signed_headers
from tests.exhibits.build_support import World, make_world
from tests.registry_support import chain_settings, module_chain

REUSED_FIXTURES = (chain_settings, module_chain)

PUBLIC = {"anchor", "bowl", "kite-expiring", "net", "paddle", "anchor-restored"}
NOT_PUBLIC = {"drum-revoked", "shared-shell", "shared_hill", "sacred-sea", "tide-embargoed"}
CHAIN_ID = 31337  # the session's anvil


@pytest.fixture(scope="module")
def world(module_chain: Settings, tmp_path_factory: pytest.TempPathFactory) -> World:
    return make_world(module_chain, tmp_path_factory.mktemp("api-world"))


@pytest.fixture(scope="module")
def client(world: World) -> Iterator[httpx.Client]:
    with served_api(world.settings) as url, httpx.Client(base_url=url, timeout=120) as client:
        yield client


def _keyholders(world: World, community: bytes) -> list[str]:
    with Registry(world.settings) as registry, registry.reader.event_index() as index:
        return list(index.community(community).keyholders)


def _key(world: World, address: str) -> bytes:
    return bytes(world.signer_keys().unlock(address).key)  # type: ignore[arg-type]


def _ids(page: dict[str, Any]) -> set[str]:
    return {item["id"] for item in page["items"]}


def _names(world: World, names: set[str]) -> set[str]:
    return {world.id(n) for n in names}


def test_the_communities_are_listed_with_their_names(client: httpx.Client, world: World) -> None:
    page = get_json(client, "/communities")
    assert page["total"] == 2
    by_id = {c["id"]: c for c in page["communities"]}
    reef = by_id["0x" + world.reef.hex()]
    assert reef["name"] == world.reef_name
    assert reef["threshold"] == 1 and len(reef["keyholders"]) == 2
    assert by_id["0x" + world.hill.hex()]["name"] == world.reef_name.replace("Reef", "Hill")
    assert get_json(client, f"/communities/{world.reef_name}") == reef
    assert get_json(client, f"/communities/0x{world.reef.hex()}") == reef
    missing = get_json(client, "/communities/Nobody-here", 404)
    assert missing["error"]["code"] == "not_found"


def test_only_items_every_claim_allows_are_public(client: httpx.Client, world: World) -> None:
    page = get_json(client, "/items")
    assert _ids(page) == _names(world, PUBLIC)
    assert page["total"] == len(PUBLIC)
    assert all(item["public"] and not item["sealed"] for item in page["items"])
    for name in NOT_PUBLIC:
        answer = get_json(client, f"/items/{world.id(name)}", 404)
        assert answer["error"]["code"] == "not_found"
        assert name not in str(answer)


def test_paging_and_filters(client: httpx.Client, world: World) -> None:
    first = get_json(client, "/items?limit=4")
    second = get_json(client, "/items?limit=4&offset=4")
    assert len(first["items"]) == 4 and len(second["items"]) == 2
    assert _ids(first) | _ids(second) == _names(world, PUBLIC)
    hill = world.reef_name.replace("Reef", "Hill")
    assert get_json(client, f"/items?community={hill}")["items"] == []
    assert _ids(get_json(client, f"/items?community={world.reef_name}")) == _names(world, PUBLIC)
    assert _ids(get_json(client, "/items?kind=derivative")) == {world.id("anchor-restored")}
    assert _ids(get_json(client, "/items?kind=batch-item")) == _names(world, {"net", "paddle"})
    assert _ids(get_json(client, "/items?q=KITE")) == {world.id("kite-expiring")}
    for hidden in ("sacred", "tide", "drum"):
        assert get_json(client, f"/items?q={hidden}")["items"] == []
    # every public item's terms: CC-BY-4.0 with the TK Attribution label (public_terms)
    assert _ids(get_json(client, "/items?license=cc-by-4.0")) == _names(world, PUBLIC)
    assert _ids(get_json(client, "/items?label=tk:attribution")) == _names(world, PUBLIC)
    assert get_json(client, "/items?license=CC0-1.0")["items"] == []
    assert get_json(client, "/items?label=tk:secret")["items"] == []
    unknown = get_json(client, "/items?community=Nobody-here", 404)
    assert unknown["error"]["code"] == "not_found"


def test_one_item_and_its_terms(client: httpx.Client, world: World) -> None:
    item = get_json(client, f"/items/{world.id('anchor')}")
    assert item["cid"] == world.cids["anchor"]
    assert item["title"] == "anchor.png" and item["file_name"] == "anchor.png"
    assert item["media_type"] == "image/png"
    assert item["community_name"] == world.reef_name
    assert item["size"] == (world.folder / "files" / "anchor.png").stat().st_size
    terms = get_json(client, f"/items/{world.id('anchor')}/terms")
    assert terms["terms_cid"] == item["terms_cid"] and terms["revoked"] is False
    assert terms["document"]["community"] == "0x" + world.reef.hex()
    bad = get_json(client, "/items/not-an-id", 422)
    assert bad["error"]["code"] == "usage_error"


def test_verification_by_cid_and_by_upload(client: httpx.Client, world: World) -> None:
    by_cid = get_json(client, f"/verify/{world.cids['anchor']}")
    assert by_cid["status"] == "verified" and by_cid["exit_code"] == 0
    data = (world.folder / "files" / "anchor.png").read_bytes()
    uploaded = client.post("/verify", files={"file": ("x.png", data)})
    assert uploaded.status_code == 200, uploaded.text
    assert uploaded.json()["status"] == "verified"
    changed = client.post("/verify", files={"file": ("x.png", data + b"!")})
    assert changed.json()["status"] == "unknown"
    revoked = get_json(client, f"/verify/{world.cids['drum-revoked']}")
    assert revoked["status"] == "revoked"
    assert get_json(client, "/verify/not-a-cid", 400)["error"]["code"] == "usage_error"
    assert not list((world.settings.data_dir / "tmp").glob("verify-*"))  # nothing kept


def test_the_event_feed_pages_through_every_event_once(client: httpx.Client, world: World) -> None:
    seen: list[tuple[int, int]] = []
    cursor = ""
    while True:
        page = get_json(client, f"/events?limit=7{cursor}")
        seen += [(e["block_number"], e["log_index"]) for e in page["events"]]
        if page["next"] is None:
            break
        cursor = f"&after={page['next']}"
    assert seen == sorted(set(seen))
    with Registry(world.settings) as registry, registry.reader.event_index() as index:
        assert isinstance(index, EventIndex)
        total = sum(len(rows) for rows in index.dump().values())
    assert len(seen) == total


def _public_answers(client: httpx.Client, world: World) -> list[str]:
    paths = ["/health", "/communities", "/items", "/exhibits", "/openapi.json"]
    paths += [f"/communities/{world.reef_name}", f"/communities/0x{world.hill.hex()}"]
    for name in world.keys:
        item = world.id(name)
        paths += [f"/items/{item}", f"/items/{item}/terms", f"/items/{item}/descriptions"]
        paths += [f"/verify/{world.cids[name]}"]
    page = get_json(client, "/events?limit=1000")
    assert page["next"] is None
    texts = [str(page)]
    texts += [client.get(path).text for path in paths]
    texts += [client.get(f"/items?q={q}").text for q in ("a", "e", "s", "sacred")]
    return texts


def test_no_public_answer_holds_a_non_public_items_name(client: httpx.Client, world: World) -> None:
    texts = _public_answers(client, world)
    assert len(texts) > 20
    # the scan reads real answers: the public items' names are in them
    assert all(any(f"{name}.png" in text for text in texts) for name in ("anchor", "bowl"))
    for text in texts:
        for name in ("sacred-sea", "tide-embargoed", "drum-revoked", "shared-shell"):
            assert name not in text


# ---- signed requests -----------------------------------------------------------------------


def _signed_get(
    client: httpx.Client, world: World, path: str, key: bytes, community: bytes, **kw: Any
) -> httpx.Response:
    headers = signed_headers(
        key, chain_id=CHAIN_ID, method="GET", path=path, community=community, **kw
    )
    return client.get(path, headers=headers)


def test_a_keyholder_sees_every_item_of_its_community(client: httpx.Client, world: World) -> None:
    holder = _keyholders(world, world.reef)[0]
    path = f"/communities/0x{world.reef.hex()}/items"
    response = _signed_get(client, world, path, _key(world, holder), world.reef)
    assert response.status_code == 200, response.text
    items = {i["id"]: i for i in response.json()["items"]}
    reef_names = set(world.keys) - {"shared_hill"}
    assert set(items) == _names(world, reef_names)
    sealed = items[world.id("sacred-sea")]
    assert sealed["sealed"] is True and sealed["public"] is False
    assert sealed["title"] is None and sealed["file_name"] is None
    assert items[world.id("tide-embargoed")]["public"] is False
    assert items[world.id("tide-embargoed")]["title"] == "tide-embargoed.png"
    assert "sacred-sea" not in response.text  # nothing sealed is decrypted here


def _error(response: httpx.Response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    assert response.json()["error"]["code"] == code


def test_unsigned_replayed_expired_tampered_and_foreign_requests_are_refused(
    client: httpx.Client, world: World
) -> None:
    path = f"/communities/0x{world.reef.hex()}/items"
    holder = _key(world, _keyholders(world, world.reef)[0])
    _error(client.get(path), 401, "unauthorized")
    # replayed: the same signed request twice
    headers = signed_headers(
        holder, chain_id=CHAIN_ID, method="GET", path=path, community=world.reef
    )
    assert client.get(path, headers=headers).status_code == 200
    _error(client.get(path, headers=headers), 401, "unauthorized")
    # expired
    past = int(time.time()) - 5
    _error(_signed_get(client, world, path, holder, world.reef, expiry=past), 401, "unauthorized")
    # too far ahead
    later = int(time.time()) + 3600
    _error(_signed_get(client, world, path, holder, world.reef, expiry=later), 401, "unauthorized")
    # tampered: signed for another path, or another body, or another chain
    other = signed_headers(
        holder, chain_id=CHAIN_ID, method="GET", path=path + "?limit=1", community=world.reef
    )
    _error(client.get(path, headers=other), 401, "unauthorized")
    body = signed_headers(
        holder, chain_id=CHAIN_ID, method="GET", path=path, community=world.reef, body=b"x"
    )
    _error(client.get(path, headers=body), 401, "unauthorized")
    chain = signed_headers(holder, chain_id=1, method="GET", path=path, community=world.reef)
    _error(client.get(path, headers=chain), 401, "unauthorized")
    # the signature of one key, named as another keyholder's
    second = _keyholders(world, world.reef)[1]
    renamed = {
        **signed_headers(holder, chain_id=CHAIN_ID, method="GET", path=path, community=world.reef),
        "X-Heritage-Signer": second,
    }
    _error(client.get(path, headers=renamed), 401, "unauthorized")
    # a key that holds nothing: 403
    stranger = bytes(Account.create().key)
    _error(_signed_get(client, world, path, stranger, world.reef), 403, "forbidden")
    # Hill's keyholder, for Reef: not one of Reef's keyholders
    hill_key = _key(world, _keyholders(world, world.hill)[0])
    _error(_signed_get(client, world, path, hill_key, world.reef), 403, "forbidden")
    # Hill's keyholder acting for Hill, asking about Reef
    _error(_signed_get(client, world, path, hill_key, world.hill), 403, "forbidden")
    # garbage headers
    fresh = "0x" + os.urandom(32).hex()
    broken = {**headers, "X-Heritage-Nonce": fresh, "X-Heritage-Signature": "0xzz"}
    _error(client.get(path, headers=broken), 401, "unauthorized")


# ---- exhibits ------------------------------------------------------------------------------


def test_a_keyholder_builds_an_exhibit_then_anyone_lists_and_downloads_it(
    client: httpx.Client, world: World
) -> None:
    import io
    import zipfile

    from tests.exhibits.build_support import spec_text

    spec = spec_text(world).encode()
    path = "/exhibits/reef-show"
    unsigned = client.post(path, content=spec, headers={"Content-Type": "application/toml"})
    _error(unsigned, 401, "unauthorized")
    hill_key = _key(world, _keyholders(world, world.hill)[0])
    foreign = signed_headers(
        hill_key, chain_id=CHAIN_ID, method="POST", path=path, community=world.hill, body=spec
    )
    _error(client.post(path, content=spec, headers=foreign), 403, "forbidden")
    holder = _key(world, _keyholders(world, world.reef)[0])
    headers = signed_headers(
        holder, chain_id=CHAIN_ID, method="POST", path=path, community=world.reef, body=spec
    )
    built = client.post(path, content=spec, headers=headers)
    assert built.status_code == 200, built.text
    answer = built.json()
    # Reef's claims: six public ones are shown; drum (revoked), shared-shell (disputed),
    # sacred-sea (sealed) and tide (embargoed) are excluded, each with a reason.
    assert answer["shown"] == len(PUBLIC)
    excluded = {e["id"]: e["reasons"] for e in answer["excluded"]}
    assert set(excluded) == _names(
        world, {"drum-revoked", "shared-shell", "sacred-sea", "tide-embargoed"}
    )
    assert all(excluded.values())
    assert "sacred-sea" not in built.text
    listed = get_json(client, "/exhibits")["exhibits"]
    assert [(e["name"], e["shown"], e["excluded"]) for e in listed] == [("reef-show", 6, 4)]
    assert "reasons" not in str(listed)  # counts only, to anyone
    download = client.get("/exhibits/reef-show.zip")
    assert download.status_code == 200
    assert download.headers["content-type"] == "application/zip"
    names = zipfile.ZipFile(io.BytesIO(download.content)).namelist()
    site = world.settings.data_dir.with_name("data-exhibits") / "reef-show"
    on_disk = sorted(p.relative_to(site).as_posix() for p in site.rglob("*") if p.is_file())
    assert sorted(names) == on_disk and "index.html" in names
    bad = client.post(
        path,
        content=b"title = 3",
        headers=signed_headers(
            holder,
            chain_id=CHAIN_ID,
            method="POST",
            path=path,
            community=world.reef,
            body=b"title = 3",
        ),
    )
    _error(bad, 400, "invalid_exhibit_spec")


# ---- writes through consent (last: it revokes an item of the module's world) ----------------


def _post_signed(
    client: httpx.Client, path: str, document: Any, key: bytes, community: bytes
) -> httpx.Response:
    import json

    body = json.dumps(document).encode()
    headers = signed_headers(
        key, chain_id=CHAIN_ID, method="POST", path=path, community=community, body=body
    )
    return client.post(path, content=body, headers={**headers, "Content-Type": "application/json"})


def test_a_revocation_requested_signed_and_submitted_over_the_api(
    client: httpx.Client, world: World
) -> None:
    import json

    from ledger.consent.files import encode_signature, parse_request
    from ledger.consent.status import sign_request

    reef_holders = _keyholders(world, world.reef)
    holder = _key(world, reef_holders[0])
    hill_key = _key(world, _keyholders(world, world.hill)[0])
    item = world.id("bowl")
    assert item in _ids(get_json(client, "/items"))
    made = _post_signed(client, "/consent/requests/revoke", {"item": item}, holder, world.reef)
    assert made.status_code == 200, made.text
    document = made.json()
    request = parse_request(made.content, "the answer")
    assert request.action == "RevokeTerms"
    signature = json.loads(
        encode_signature(sign_request(request, Account.from_key(_key(world, reef_holders[1]))))
    )
    payload = {"request": document, "signatures": [signature]}
    # Hill's keyholder may not submit Reef's request; nothing unsigned is accepted
    foreign = _post_signed(client, "/consent/submit", payload, hill_key, world.hill)
    _error(foreign, 403, "forbidden")
    _error(client.post("/consent/submit", json=payload), 401, "unauthorized")
    assert item in _ids(get_json(client, "/items"))  # nothing was sent
    sent = _post_signed(client, "/consent/submit", payload, holder, world.reef)
    assert sent.status_code == 200, sent.text
    assert item not in _ids(get_json(client, "/items"))
    _error(client.get(f"/items/{item}"), 404, "not_found")
    # the same request again: the chain has moved on, the request is stale
    again = _post_signed(client, "/consent/submit", payload, holder, world.reef)
    assert again.status_code in (400, 409), again.text


def test_descriptions_of_public_items_only(client: httpx.Client, world: World) -> None:
    # The world's items were registered without descriptions: no version yet.
    answer = get_json(client, f"/items/{world.id('anchor')}/descriptions")
    assert answer == {"item": world.id("anchor"), "versions": []}
    hidden = get_json(client, f"/items/{world.id('sacred-sea')}/descriptions", 404)
    assert hidden["error"]["code"] == "not_found"


def test_a_terms_request_carries_the_document_sent(client: httpx.Client, world: World) -> None:
    from ledger.consent.files import parse_request
    from tests.rights_support import public_terms

    holder = _key(world, _keyholders(world, world.reef)[0])
    terms = public_terms(world.reef)
    body = {"item": world.id("anchor"), "terms": terms}
    made = _post_signed(client, "/consent/requests/terms", body, holder, world.reef)
    assert made.status_code == 200, made.text
    request = parse_request(made.content, "the answer")
    assert request.action == "SetTerms"
    assert dict(request.terms_document or {}) == terms
    broken = {"item": world.id("anchor"), "terms": {"type": "heritage/terms", "version": 1}}
    refused = _post_signed(client, "/consent/requests/terms", broken, holder, world.reef)
    _error(refused, 400, "invalid_terms")


def test_a_description_set_through_consent_over_the_api(client: httpx.Client, world: World) -> None:
    import json

    from ledger.consent.files import encode_signature, parse_request
    from ledger.consent.status import sign_request

    holders = _keyholders(world, world.reef)
    holder = _key(world, holders[0])
    description = {
        "type": "heritage/description",
        "version": 1,
        "title": {"en": "Anchor stone", "mi": "Punga kōhatu"},
    }
    body = {"item": world.id("anchor"), "description": description}
    made = _post_signed(client, "/consent/requests/description", body, holder, world.reef)
    assert made.status_code == 200, made.text
    request = parse_request(made.content, "the answer")
    assert request.action == "SetDescription"
    signature = json.loads(
        encode_signature(sign_request(request, Account.from_key(_key(world, holders[1]))))
    )
    payload = {"request": made.json(), "signatures": [signature]}
    sent = _post_signed(client, "/consent/submit", payload, holder, world.reef)
    assert sent.status_code == 200, sent.text
    versions = get_json(client, f"/items/{world.id('anchor')}/descriptions")["versions"]
    assert len(versions) == 1
    assert "Punga kōhatu" in json.dumps(versions, ensure_ascii=False)
    assert get_json(client, f"/items/{world.id('anchor')}")["title"] == "Anchor stone"
    bad = {"item": world.id("anchor"), "description": {"type": "heritage/description"}}
    refused = _post_signed(client, "/consent/requests/description", bad, holder, world.reef)
    _error(refused, 400, "invalid_description")
