"""The API's skeleton on an empty data directory with no chain: the one error form, 503 for
what needs the chain, the limits, and an OpenAPI document that declares every answer."""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from starlette.types import ASGIApp

from api.app import create_app
from api.http.limits import ApiLimits
from ledger.settings import Settings, load_settings


def _closed_port() -> int:
    """A port nothing listens on (bound, then released)."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = int(sock.getsockname()[1])
    sock.close()
    return port


@pytest.fixture
def empty(tmp_path: Path) -> Settings:
    return load_settings(
        env={}, data_dir=tmp_path / "data", rpc_url=f"http://127.0.0.1:{_closed_port()}"
    )


Serve = Callable[[ASGIApp], str]


def _client(
    serve: Serve, settings: Settings, limits: ApiLimits | None = None
) -> Iterator[httpx.Client]:
    """httpx against the app served by uvicorn on loopback."""
    url = serve(create_app(settings, limits=limits))
    with httpx.Client(base_url=url, timeout=60) as client:
        yield client


@pytest.fixture
def client(serve: Serve, empty: Settings) -> Iterator[httpx.Client]:
    yield from _client(serve, empty)


def _error(response: httpx.Response, status: int, code: str) -> dict[str, object]:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message", "hint"}
    assert body["error"]["code"] == code
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    detail: dict[str, object] = body["error"]
    return detail


NEEDS_CHAIN = [
    "/communities",
    "/communities/Reef",
    "/items",
    "/items/0x" + "11" * 32,
    "/items/0x" + "11" * 32 + "/terms",
    "/events",
    "/verify/bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku",
]


@pytest.mark.parametrize("path", NEEDS_CHAIN)
def test_what_needs_the_chain_answers_503_chain_unavailable(
    client: httpx.Client, path: str
) -> None:
    detail = _error(client.get(path), 503, "chain_unavailable")
    assert detail["hint"]


def test_health_answers_with_the_chain_down(client: httpx.Client) -> None:
    response = client.get("/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "chain": "down", "block": None}


def test_exhibits_list_is_empty_on_an_empty_data_directory(client: httpx.Client) -> None:
    assert client.get("/exhibits").json() == {"exhibits": []}
    _error(client.get("/exhibits/none.zip"), 404, "not_found")


@pytest.mark.parametrize(
    ("path", "status", "code"),
    [
        ("/no/such/endpoint", 404, "not_found"),
        ("/items?limit=0", 422, "usage_error"),
        ("/items?limit=abc", 422, "usage_error"),
        ("/items?kind=statue", 422, "usage_error"),
        ("/events?limit=100000", 422, "usage_error"),
        ("/exhibits/..%2F..%2Fetc.zip", 404, "not_found"),
        ("/exhibits/.hidden.zip", 422, "usage_error"),
    ],
)
def test_bad_input_is_a_4xx_in_the_one_form(
    client: httpx.Client, path: str, status: int, code: str
) -> None:
    _error(client.get(path), status, code)


def test_a_bad_cursor_is_refused_before_the_chain_is_asked(client: httpx.Client) -> None:
    _error(client.get("/events?after=yesterday"), 400, "usage_error")


def test_a_wrong_method_is_405_in_the_one_form(client: httpx.Client) -> None:
    _error(client.delete("/items"), 405, "method_not_allowed")


def test_a_declared_body_over_the_limit_is_413(serve: Serve, empty: Settings) -> None:
    for client in _client(serve, empty, ApiLimits(max_body=1000)):
        response = client.post("/verify", files={"file": ("f.bin", b"x" * 5000)})
        _error(response, 413, "limit_exceeded")


def test_an_undeclared_body_over_the_limit_is_413(serve: Serve, empty: Settings) -> None:
    head = (
        b'--B\r\nContent-Disposition: form-data; name="file"; filename="f.bin"\r\n'
        b"Content-Type: application/octet-stream\r\n\r\n"
    )

    def chunks() -> Iterator[bytes]:  # sent chunked: no Content-Length
        yield head
        for _ in range(10):
            yield b"y" * 500
        yield b"\r\n--B--\r\n"

    for client in _client(serve, empty, ApiLimits(max_body=1000)):
        response = client.post(
            "/verify", content=chunks(), headers={"Content-Type": "multipart/form-data; boundary=B"}
        )
        assert "content-length" not in response.request.headers
        _error(response, 413, "limit_exceeded")


def test_a_client_over_its_rate_gets_429(serve: Serve, empty: Settings) -> None:
    for client in _client(serve, empty, ApiLimits(rate=0.001, burst=3)):
        assert [client.get("/exhibits").status_code for _ in range(3)] == [200] * 3
        response = client.get("/exhibits")
        _error(response, 429, "rate_limited")
        assert response.headers["Retry-After"] == "1"


def test_the_default_rate_lets_one_client_send_hundreds_at_once(client: httpx.Client) -> None:
    # 500 requests with no pause between them, and none refused. Every request counts against
    # the rate before it is routed, so a path that is not there (a quick 404) tests the same
    # bucket without 500 real answers' work: the burst alone (2,000) must let them through.
    statuses = {client.get("/no-such-path").status_code for _ in range(500)}
    assert statuses == {404}


def test_a_request_over_the_time_limit_is_504(serve: Serve, empty: Settings) -> None:
    for client in _client(serve, empty, ApiLimits(timeout=1e-9)):
        _error(client.get("/health"), 504, "timeout")


def test_openapi_declares_every_status_with_the_error_schema_and_examples(
    client: httpx.Client,
) -> None:
    document = client.get("/openapi.json").json()
    assert "ErrorBody" in document["components"]["schemas"]
    operations = [
        (path, method, op)
        for path, item in document["paths"].items()
        for method, op in item.items()
    ]
    assert len(operations) >= 10
    for path, method, op in operations:
        responses = op["responses"]
        ok = responses["200"]
        assert ok["content"], (path, method)
        for status in ("413", "422", "429", "500", "504"):
            assert status in responses, (path, method, status)
        for status, answer in responses.items():
            if status.startswith(("4", "5")):
                media = answer["content"]["application/json"]
                assert media["schema"] == {"$ref": "#/components/schemas/ErrorBody"}, (
                    path,
                    method,
                    status,
                )
                assert media["example"]["error"]["code"], (path, method, status)
        # every operation has an example answer: in its own content or in its schema
        content = next(iter(ok["content"].values()))
        schema = content.get("schema", {})
        ref = schema.get("$ref", "").rsplit("/", 1)[-1]
        named = document["components"]["schemas"].get(ref, {})
        assert "example" in content or "example" in named, (path, method)
