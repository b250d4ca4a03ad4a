"""The one JSON-RPC transport: every request the project sends to a chain leaves through
:class:`RpcTransport`, and :func:`unavailable` is the one place where a transport failure
becomes :class:`~ledger.errors.ChainUnavailable`.

web3.py reaches the chain through :class:`TransportProvider`, a provider over the same
transport; the verification read path writes its batch requests on it directly and reads the
answers later (:meth:`RpcTransport.send`), so the node works on them while the caller hashes a
file. One kept-alive ``http.client`` connection per thread: web3's own HTTP provider goes
through requests, whose bookkeeping is a third of a millisecond per request, most of a local
round trip.
"""

from __future__ import annotations

import base64
import contextlib
import http.client
import json
import socket
import threading
import urllib.request
from collections.abc import Iterator
from typing import Any, Final, cast
from urllib.parse import urlsplit

from web3 import Web3
from web3.exceptions import Web3Exception
from web3.providers.base import JSONBaseProvider
from web3.types import RPCEndpoint, RPCResponse

from ledger.errors import ChainError, ChainUnavailable, HeritageError

__all__ = [
    "DEFAULT_TIMEOUT",
    "UNAVAILABLE_HINT",
    "PendingAnswer",
    "RpcTransport",
    "TransportProvider",
    "chain_errors",
    "connect",
    "endpoint_of",
    "transport_of",
    "unavailable",
]

DEFAULT_TIMEOUT: Final = 30.0
UNAVAILABLE_HINT: Final = (
    "start the local chain with `heritage chain up`, or check HERITAGE_RPC_URL"
)
_TRANSPORT_ERRORS: Final = (OSError, http.client.HTTPException)


def unavailable(
    url: str, cause: BaseException | str | None, *, hint: str = UNAVAILABLE_HINT
) -> ChainUnavailable:
    """The error for a chain that does not answer at ``url`` (``cause``: the transport's
    exception, or a word on it): the one place where it is written."""
    if cause is None:
        return ChainUnavailable(f"no chain answers at {url}", hint=hint)
    reason = cause if isinstance(cause, str) else type(cause).__name__
    return ChainUnavailable(f"no chain answers at {url} ({reason})", hint=hint)


@contextlib.contextmanager
def chain_errors(
    rpc_url: str, *, node_errors: tuple[type[BaseException], ...] = (Web3Exception,)
) -> Iterator[None]:
    """Turn node failures (``node_errors``, by default any web3.py error) into
    :class:`ChainError` naming the endpoint. Transport failures arrive as
    :class:`ChainUnavailable` already, raised by the transport, and pass through."""
    try:
        yield
    except ChainUnavailable:
        raise
    except node_errors as exc:
        raise ChainError(f"the chain at {rpc_url} failed: {exc}") from None


class RpcTransport:
    """JSON-RPC over HTTP(S) to one endpoint, one kept-alive connection per thread.

    Requests can be written now and their answers read later (:meth:`send`); a connection
    carries one request at a time, so a pending answer of this thread's connection is read
    first (and kept for its handle). Proxies from the environment are honoured as requests
    honours them (``HTTP_PROXY``, ``HTTPS_PROXY``, ``NO_PROXY``)."""

    def __init__(
        self, url: str, *, timeout: float = DEFAULT_TIMEOUT, hint: str = UNAVAILABLE_HINT
    ) -> None:
        self.url = url
        self.timeout = timeout
        self.hint = hint
        parts = urlsplit(url)
        self._scheme = parts.scheme
        self._host = parts.hostname or "127.0.0.1"
        self._port = parts.port
        self._path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        self._headers = {"Content-Type": "application/json"}
        if parts.username is not None:
            credentials = f"{parts.username}:{parts.password or ''}".encode()
            self._headers["Authorization"] = "Basic " + base64.b64encode(credentials).decode()
        self._proxy = _proxy_for(url, parts.scheme, self._host)
        self._local = threading.local()

    def __repr__(self) -> str:
        return f"RpcTransport({self.url!r})"

    # -- requests ------------------------------------------------------------------------

    def post(self, body: bytes) -> Any:
        """The decoded JSON answer to ``body``."""
        return self.send(body).result()

    def request(self, method: str, params: Any = ()) -> Any:
        """The result of one call; :class:`ChainError` when the node answers with an error."""
        body = {"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)}
        answer = self.post(json.dumps(body).encode())
        if not isinstance(answer, dict) or "result" not in answer:
            error = answer.get("error") if isinstance(answer, dict) else answer
            raise ChainError(f"the chain at {self.url} failed {method}: {error}")
        return answer["result"]

    def send(self, body: bytes) -> PendingAnswer:
        """Write ``body`` now; the handle's :meth:`PendingAnswer.result` reads its answer."""
        previous: PendingAnswer | None = getattr(self._local, "pending", None)
        if previous is not None:
            previous.receive()
        pending = PendingAnswer(self, body)
        self._local.pending = pending
        pending.start()
        return pending

    # -- connections ---------------------------------------------------------------------

    def connection(self) -> tuple[http.client.HTTPConnection, bool]:
        """This thread's connection, and whether it was just made."""
        conn: http.client.HTTPConnection | None = getattr(self._local, "conn", None)
        if conn is not None:
            return conn, False
        conn = self._new_connection()
        self._local.conn = conn
        try:
            conn.connect()
            # http.client writes the headers and the body in two sends; with Nagle's
            # algorithm the second can wait for the peer's delayed ACK of the first:
            # back-to-back head() calls measured 44 ms each without this, 0.13 ms with it, on
            # loopback. urllib3 sets this option too.
            conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:
            self.drop()
            raise
        return conn, True

    def _new_connection(self) -> http.client.HTTPConnection:
        if self._scheme not in ("http", "https"):
            raise http.client.InvalidURL(f"{self.url} is not an http:// or https:// URL")
        kind: type[http.client.HTTPConnection] = http.client.HTTPConnection
        if self._scheme == "https":
            kind = http.client.HTTPSConnection
        if self._proxy is None:
            return kind(self._host, self._port, timeout=self.timeout)
        proxy = urlsplit(self._proxy)
        if self._scheme == "https":
            conn = kind(proxy.hostname or "", proxy.port, timeout=self.timeout)
            conn.set_tunnel(self._host, self._port)
            return conn
        return http.client.HTTPConnection(proxy.hostname or "", proxy.port, timeout=self.timeout)

    def target(self) -> str:
        """What the request line names: the path, or the whole URL through an HTTP proxy."""
        if self._proxy is not None and self._scheme == "http":
            return self.url
        return self._path

    def drop(self) -> None:
        """Close this thread's connection (the next request makes a new one)."""
        conn: http.client.HTTPConnection | None = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
        self._local.conn = None

    def unavailable(self, cause: BaseException | str) -> ChainUnavailable:
        return unavailable(self.url, cause, hint=self.hint)


def _proxy_for(url: str, scheme: str, host: str) -> str | None:
    proxies = urllib.request.getproxies_environment()
    if not proxies or urllib.request.proxy_bypass(host):
        return None
    proxy = proxies.get(scheme) or proxies.get("all")
    if proxy and "://" not in proxy:
        proxy = "http://" + proxy
    return proxy or None


class PendingAnswer:
    """One request written on a transport's connection, its answer not read yet."""

    def __init__(self, transport: RpcTransport, body: bytes) -> None:
        self.transport = transport
        self.body = body
        self._conn: http.client.HTTPConnection | None = None
        self._fresh = False
        self._answer: Any = None
        self._error: BaseException | None = None
        self._done = False

    def _write(self) -> None:
        self._conn, self._fresh = self.transport.connection()
        self._conn.request("POST", self.transport.target(), self.body, self.transport._headers)

    def _read(self) -> Any:
        assert self._conn is not None
        response = self._conn.getresponse()
        data = response.read()
        if response.status != 200:
            raise http.client.HTTPException(f"HTTP status {response.status}")
        return data

    def start(self) -> None:
        try:
            self._write()
        except _TRANSPORT_ERRORS as exc:
            self._failed(exc)

    def receive(self) -> None:
        """Read the answer (once): errors are kept for :meth:`result`."""
        if self._done:
            return
        if getattr(self.transport._local, "pending", None) is self:
            self.transport._local.pending = None
        if self._error is None:
            try:
                self._answer = self._read()
            except _TRANSPORT_ERRORS as exc:
                self._failed(exc)
        self._done = True

    def _failed(self, exc: BaseException) -> None:
        """A kept-alive connection the node had closed: once more, on a new one."""
        self.transport.drop()
        if self._fresh or self._error is not None:
            self._error = exc
            return
        self._error = exc
        try:
            self._write()
            self._answer = self._read()
            self._error = None
        except _TRANSPORT_ERRORS as again:
            self.transport.drop()
            self._error = again
        self._done = True

    def result(self) -> Any:
        """The decoded JSON answer; :class:`ChainUnavailable` when none came, and
        :class:`ChainError` when what came is not JSON."""
        self.receive()
        if self._error is not None:
            raise self.transport.unavailable(self._error) from None
        try:
            return json.loads(self._answer)
        except ValueError:
            raise ChainError(
                f"the chain at {self.transport.url} answered with something that is not "
                f"JSON: {bytes(self._answer)[:80]!r}"
            ) from None


class TransportProvider(JSONBaseProvider):
    """web3.py's provider over an :class:`RpcTransport`: web3 sends nothing any other way."""

    def __init__(self, transport: RpcTransport) -> None:
        super().__init__()
        self.transport = transport
        self.endpoint_uri = transport.url

    def __str__(self) -> str:
        return f"RPC connection {self.endpoint_uri}"

    def make_request(self, method: RPCEndpoint, params: Any) -> RPCResponse:
        answer = self.transport.post(self.encode_rpc_request(method, params))
        return cast(RPCResponse, answer)

    def make_batch_request(
        self, requests: list[tuple[RPCEndpoint, Any]]
    ) -> list[RPCResponse] | RPCResponse:
        answer = self.transport.post(self.encode_batch_rpc_request(requests))
        if not isinstance(answer, list):
            return cast(RPCResponse, answer)  # a node that refuses batches: one error object
        return cast(list[RPCResponse], sorted(answer, key=lambda r: int(r.get("id", -1))))

    def is_connected(self, show_traceback: bool = False) -> bool:
        try:
            response = self.make_request(RPCEndpoint("web3_clientVersion"), [])
        except HeritageError:
            if show_traceback:
                raise
            return False
        return isinstance(response, dict) and "error" not in response


def connect(
    rpc_url: str, *, timeout: float = DEFAULT_TIMEOUT, hint: str = UNAVAILABLE_HINT
) -> Web3:
    """A web3 client for ``rpc_url`` over the one transport; it fails fast (no retries), and
    ``hint`` says what to do when nothing answers."""
    return Web3(TransportProvider(RpcTransport(rpc_url, timeout=timeout, hint=hint)))


def endpoint_of(w3: Web3) -> str:
    """The URL a web3 client sends to, for messages."""
    return str(getattr(w3.provider, "endpoint_uri", None) or "the configured RPC URL")


def transport_of(w3: Web3) -> RpcTransport:
    """The transport a web3 client made by :func:`connect` sends through."""
    provider = w3.provider
    if not isinstance(provider, TransportProvider):
        raise ChainError(
            f"{provider} is not the project's JSON-RPC transport",
            hint="make the web3 client with ledger.chain.connect(rpc_url)",
        )
    return provider.transport
