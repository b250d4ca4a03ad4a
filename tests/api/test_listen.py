"""``api.listen.listening_socket``: connections accepted from it by asyncio (as uvicorn accepts
them) have Nagle's algorithm off, so an answer written in two parts is not held back."""

from __future__ import annotations

import asyncio
import socket

import pytest

from api.listen import listening_socket


def _nodelay_of_accepted(sock: socket.socket) -> int:
    """TCP_NODELAY of the server side of one connection asyncio accepts from ``sock``."""
    seen: list[int] = []

    class Record(asyncio.Protocol):
        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            accepted = transport.get_extra_info("socket")
            seen.append(accepted.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
            transport.close()

    async def run() -> None:
        server = await asyncio.get_running_loop().create_server(Record, sock=sock)
        async with server:
            host, port = sock.getsockname()[:2]
            _reader, writer = await asyncio.open_connection(host, port)
            while not seen:
                await asyncio.sleep(0.01)
            writer.close()

    asyncio.run(run())
    return seen[0]


def test_accepted_connections_have_nagle_off() -> None:
    sock = listening_socket("127.0.0.1", 0)
    assert sock.proto == socket.IPPROTO_TCP
    assert _nodelay_of_accepted(sock) != 0


def test_a_socket_that_does_not_name_tcp_keeps_nagle_on() -> None:
    # Why the helper exists: the same socket made without its protocol.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    assert _nodelay_of_accepted(sock) == 0


def test_a_taken_port_is_an_error() -> None:
    first = listening_socket("127.0.0.1", 0)
    first.listen()
    try:
        with pytest.raises(OSError):
            listening_socket("127.0.0.1", first.getsockname()[1])
    finally:
        first.close()
