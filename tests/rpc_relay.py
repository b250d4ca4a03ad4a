"""A real HTTP relay in front of a JSON-RPC node, for tests of the one transport: it forwards
requests to the node as they are (also when used as an HTTP proxy, the request line naming
the whole URL), and can behave as some nodes do: refuse batch requests, or answer with
something that is not JSON. It records what it was asked."""

from __future__ import annotations

import http.client
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal
from urllib.parse import urlsplit

Mode = Literal["forward", "no_batches", "not_json"]


class RpcRelay:
    """Serves on ``url`` and forwards to ``upstream``; ``mode`` may change at any time."""

    def __init__(self, upstream: str, mode: Mode = "forward") -> None:
        self.upstream = urlsplit(upstream)
        self.mode: Mode = mode
        self.request_lines: list[str] = []  # the target of each request, as sent
        self.methods: list[list[str]] = []  # the JSON-RPC methods of each request
        relay = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                relay.request_lines.append(self.path)
                request = json.loads(body)
                batch = isinstance(request, list)
                relay.methods.append(
                    [r["method"] for r in request] if batch else [request["method"]]
                )
                if relay.mode == "not_json":
                    self._answer(b"<html>a login page</html>")
                elif relay.mode == "no_batches" and batch:
                    error = {"code": -32600, "message": "batch requests are not supported"}
                    refusal = {"jsonrpc": "2.0", "id": None, "error": error}
                    self._answer(json.dumps(refusal).encode())
                else:
                    self._answer(relay.forward(body))

            def _answer(self, data: bytes) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def forward(self, body: bytes) -> bytes:
        conn = http.client.HTTPConnection(self.upstream.hostname or "", self.upstream.port)
        try:
            conn.request("POST", self.upstream.path or "/", body,
                         {"Content-Type": "application/json"})
            return conn.getresponse().read()
        finally:
            conn.close()

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@contextmanager
def rpc_relay(upstream: str, mode: Mode = "forward") -> Iterator[RpcRelay]:
    relay = RpcRelay(upstream, mode)
    relay.start()
    try:
        yield relay
    finally:
        relay.stop()
