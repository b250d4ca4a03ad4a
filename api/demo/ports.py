"""Ports of the demo's services: the default one when it is free, else a free one (said so)."""

from __future__ import annotations

import errno
import socket
from dataclasses import dataclass

__all__ = ["DEFAULT_PORTS", "PortChoice", "choose_port", "port_free"]

#: The services and their default ports, in the order the demo starts them.
DEFAULT_PORTS: dict[str, int] = {"chain": 8545, "ipfs": 5001, "api": 8000, "exhibit": 8090}


@dataclass(frozen=True, slots=True)
class PortChoice:
    """The port a service gets: ``port``; ``wanted`` when that one was taken."""

    service: str
    port: int
    wanted: int

    @property
    def moved(self) -> bool:
        return self.port != self.wanted

    def note(self) -> str | None:
        if not self.moved:
            return None
        return f"port {self.wanted} ({self.service}) is taken: using {self.port} instead"


def port_free(host: str, port: int) -> bool:
    """Whether ``host:port`` can be bound now (no SO_REUSEADDR: a port in TIME_WAIT after
    a server stopped still counts as free only if the servers here could bind it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            if exc.errno in (errno.EADDRINUSE, errno.EACCES):
                return False
            raise
    # Something may listen on the wildcard address or accept without our bind failing.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.settimeout(0.2)
        return probe.connect_ex((host, port)) != 0


def _any_free(host: str, avoid: set[int]) -> int:
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind((host, 0))
            port = int(sock.getsockname()[1])
        if port not in avoid:
            return port
    raise OSError("no free port found")  # pragma: no cover - the kernel always has one


def choose_port(service: str, wanted: int, host: str = "127.0.0.1",
                avoid: set[int] | None = None) -> PortChoice:  # fmt: skip
    """``wanted`` if free on ``host`` (and not in ``avoid``: ports already given to other
    services), else a free port the kernel picks."""
    taken = avoid or set()
    if wanted not in taken and port_free(host, wanted):
        return PortChoice(service, wanted, wanted)
    return PortChoice(service, _any_free(host, taken | {wanted}), wanted)
