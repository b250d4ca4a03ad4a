"""A listening TCP socket to hand to uvicorn (``Server.run(sockets=[…])``), for servers that
must know their port before they start (port 0: any free one) or that bind it themselves.

The socket names its protocol, ``IPPROTO_TCP``. asyncio turns Nagle's algorithm off
(``TCP_NODELAY``) only on connections accepted from a socket whose protocol says TCP; one made
with ``socket.socket(AF_INET, SOCK_STREAM)`` says 0, and then an answer's head and body, written
separately, meet the client's delayed ACK: about 40 ms of idle wait on every request."""

from __future__ import annotations

import socket

__all__ = ["listening_socket"]


def listening_socket(host: str, port: int, *, reuse_address: bool = False) -> socket.socket:
    """An IPv4 TCP socket bound to ``host:port`` (uvicorn listens on it)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        if reuse_address:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    return sock
