"""The local anvil node as a process: find the pinned binary, start it in the background with
its state persisted under the data directory, tell whether a pidfile names it, stop it.

The binary is the one npm installs from ``@foundry-rs/anvil`` (pinned in package.json): its
platform package (e.g. ``@foundry-rs/anvil-linux-amd64``) carries it in ``bin/``. npm's
post-install script of the wrapper package is not needed and stays denied.

Only POSIX systems are supported (the node is started with ``posix_spawn`` in a new session,
so it outlives the command that started it).
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import platform
import signal
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Final
from urllib.parse import urlsplit

from ledger.chain.transport import RpcTransport
from ledger.errors import ChainError, ConfigError, HeritageError
from ledger.settings import Settings

__all__ = [
    "ANVIL_VERSION",
    "AnvilProcess",
    "ChainPaths",
    "StateUnreadable",
    "find_anvil",
    "find_our_anvil",
    "local_endpoint",
    "process_alive",
    "read_pidfile",
    "rpc_chain_id",
    "start_anvil",
    "stop_anvil",
]

ANVIL_VERSION: Final = "1.7.1"  # as pinned in package.json
STATE_INTERVAL_SECONDS: Final = 1
_LOCAL_HOSTS: Final = frozenset({"127.0.0.1", "localhost"})
_PLATFORM_PACKAGES: Final = {
    ("linux", "x86_64"): "anvil-linux-amd64",
    ("linux", "amd64"): "anvil-linux-amd64",
    ("linux", "aarch64"): "anvil-linux-arm64",
    ("linux", "arm64"): "anvil-linux-arm64",
    ("darwin", "x86_64"): "anvil-darwin-amd64",
    ("darwin", "arm64"): "anvil-darwin-arm64",
}


@dataclass(frozen=True, slots=True)
class ChainPaths:
    """Where the local chain keeps its files: ``<data_dir>/chain/``."""

    root: Path

    @classmethod
    def of(cls, settings: Settings) -> ChainPaths:
        return cls(settings.data_dir / "chain")

    @property
    def state(self) -> Path:
        return self.root / "state.json"

    @property
    def pidfile(self) -> Path:
        return self.root / "anvil.pid"

    @property
    def log(self) -> Path:
        return self.root / "anvil.log"

    @property
    def deployment(self) -> Path:
        return self.root / "deployment.json"

    @property
    def lock(self) -> Path:
        return self.root / ".lock"

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """Hold the chain directory's lock, so two `chain up`/`down` never race."""
        import fcntl

        self.root.mkdir(parents=True, exist_ok=True)
        with self.lock.open("a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)


@dataclass(frozen=True, slots=True)
class AnvilProcess:
    """A running anvil that serves this data directory's state file."""

    pid: int
    port: int


# ---- endpoint and binary -------------------------------------------------------------------


def local_endpoint(rpc_url: str) -> tuple[str, int]:
    """Host and port where the local node must listen for ``rpc_url`` (a loopback HTTP URL)."""
    parts = urlsplit(rpc_url)
    hint = (
        "the local chain listens on http://127.0.0.1:PORT; for any other chain set "
        "HERITAGE_DEPLOYMENT to its deployment file as well"
    )
    try:
        port = parts.port
    except ValueError:
        port = None
    if parts.scheme != "http" or parts.hostname not in _LOCAL_HOSTS or port is None:
        raise ConfigError(f"rpc_url {rpc_url!r} is not a local anvil endpoint", hint=hint)
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise ConfigError(f"rpc_url {rpc_url!r} has a path; anvil serves /", hint=hint)
    return "127.0.0.1", port


def _platform_package() -> str:
    key = (platform.system().lower(), platform.machine().lower())
    package = _PLATFORM_PACKAGES.get(key)
    if package is None:
        raise ChainError(f"no anvil binary is published for {key[0]}/{key[1]}")
    return package


def _search_roots() -> list[Path]:
    roots: list[Path] = []
    for start in (Path(__file__).resolve().parent, Path.cwd().resolve()):
        for folder in (start, *start.parents):
            if folder not in roots:
                roots.append(folder)
    return roots


def find_anvil() -> Path:
    """The pinned anvil binary under the project's node_modules, made executable if needed."""
    package = _platform_package()
    looked: list[str] = []
    for root in _search_roots():
        folder = root / "node_modules" / "@foundry-rs" / package
        binary = folder / "bin" / "anvil"
        looked.append(str(binary))
        if not binary.is_file():
            continue
        try:
            version = json.loads((folder / "package.json").read_text(encoding="utf-8"))["version"]
        except (OSError, ValueError, KeyError, TypeError):
            version = None
        if version != ANVIL_VERSION:
            raise ChainError(
                f"{binary} is anvil {version}, but the project pins {ANVIL_VERSION}",
                hint="run `make install` (npm ci) in the project directory",
            )
        if not os.access(binary, os.X_OK):
            # Some npm versions unpack the platform package without the exec bits.
            mode = binary.stat().st_mode
            try:
                binary.chmod(mode | ((mode & 0o444) >> 2))
            except OSError as exc:
                raise ChainError(f"{binary} is not executable and chmod failed: {exc}") from None
        return binary
    raise ChainError(
        f"the anvil binary (npm package @foundry-rs/{package} {ANVIL_VERSION}) is not installed",
        hint="run `make install` (npm ci) in the project directory; looked in "
        + ", ".join(looked[:3]),
    )


# ---- processes -----------------------------------------------------------------------------


def read_pidfile(path: Path) -> int | None:
    """The pid a pidfile names, or None when it is missing or unreadable."""
    try:
        text = path.read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError):
        return None
    return int(text) if text.isdigit() and int(text) > 0 else None


def _command_line(pid: int) -> list[str] | None:
    proc = Path("/proc")
    if proc.is_dir():
        try:
            raw = (proc / str(pid) / "cmdline").read_bytes()
        except OSError:
            return None
        return raw.decode("utf-8", "replace").rstrip("\0").split("\0") if raw else None
    import subprocess

    try:
        out = subprocess.run(
            ["ps", "-ww", "-o", "command=", "-p", str(pid)],
            capture_output=True,
            text=True,
            check=False,
            timeout=10,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.split() or None


def process_alive(pid: int) -> bool:
    """True while ``pid`` runs. A zombie (exited, not yet reaped) counts as gone; if it is a
    child of ours (a node started by this process) it is reaped here."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    if not Path("/proc").is_dir():  # macOS: only our own children can be told apart
        with contextlib.suppress(ChildProcessError):
            return os.waitpid(pid, os.WNOHANG)[0] != pid
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="ascii", errors="replace")
        status = Path(f"/proc/{pid}/status").read_text(encoding="ascii", errors="replace")
    except OSError:
        return False  # it went away since os.kill
    if stat.rpartition(")")[2].split()[:1] != ["Z"]:
        return True
    # The main thread of a multi-threaded process turns zombie before its other threads have
    # exited, and those may still hold its files (anvil's listening socket among them).
    threads = next((ln.split()[1] for ln in status.splitlines() if ln.startswith("Threads:")), "1")
    if threads.isdigit() and int(threads) > 1:
        return True
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)
    return False


def find_our_anvil(paths: ChainPaths) -> AnvilProcess | None:
    """The anvil the pidfile names, if it is alive and really serves this data directory
    (its command line is anvil's and carries ``--state`` with our state file); else None."""
    pid = read_pidfile(paths.pidfile)
    if pid is None or not process_alive(pid):
        return None
    argv = _command_line(pid)
    if not argv or Path(argv[0]).name != "anvil":
        return None
    options = dict(itertools.pairwise(argv[1:]))
    state = options.get("--state")
    if state is None or Path(state).resolve() != paths.state.resolve():
        return None
    port = options.get("--port", "")
    return AnvilProcess(pid=pid, port=int(port)) if port.isdigit() else None


def rpc_chain_id(url: str, timeout: float = 2.0) -> int | None:
    """``eth_chainId`` at ``url``, or None when nothing answers it as a JSON-RPC node."""
    transport = RpcTransport(url, timeout=timeout)
    try:
        result = transport.request("eth_chainId")
        return int(result, 16) if isinstance(result, str) else None
    except (HeritageError, ValueError):
        return None
    finally:
        transport.drop()


def _port_taken(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.settimeout(1.0)
        return probe.connect_ex((host, port)) == 0


def _port_held(host: str, port: int, grace: float = 3.0) -> bool:
    """True if something keeps listening on the port for ``grace`` seconds (a process that is
    just exiting may hold it a moment longer)."""
    deadline = time.monotonic() + grace
    while _port_taken(host, port):
        if time.monotonic() > deadline:
            return True
        time.sleep(0.05)
    return False


def _log_tail(path: Path, lines: int = 8) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""
    return "\n".join(line for line in text.splitlines()[-lines:] if line.strip())


class StateUnreadable(ChainError):
    """anvil refused to load its state file (cut short by a kill during a dump, say); the
    caller moves the file aside and starts an empty chain."""


def start_anvil(
    paths: ChainPaths, host: str, port: int, *, ready_timeout: float = 60.0
) -> AnvilProcess:
    """Start anvil in the background (a new session, output to ``anvil.log``), write the
    pidfile and return once its RPC answers. Raises if it exits or stays silent."""
    binary = find_anvil()
    if _port_held(host, port):
        chain_id = rpc_chain_id(f"http://{host}:{port}")
        what = "a process" if chain_id is None else f"a chain (id {chain_id})"
        raise ChainError(
            f"{host}:{port} is already taken by {what} that is not this data directory's anvil",
            hint="stop it, or pick another port with HERITAGE_RPC_URL=http://127.0.0.1:PORT",
        )
    paths.root.mkdir(parents=True, exist_ok=True)
    if paths.log.exists():
        paths.log.replace(paths.log.with_name(paths.log.name + ".1"))  # keep one previous run
    argv = [
        str(binary),
        "--host", host,
        "--port", str(port),
        "--state", str(paths.state.resolve()),
        "--state-interval", str(STATE_INTERVAL_SECONDS),
    ]  # fmt: skip
    actions = [
        (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
        (os.POSIX_SPAWN_OPEN, 1, str(paths.log), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644),
        (os.POSIX_SPAWN_DUP2, 1, 2),
    ]
    pid = os.posix_spawn(argv[0], argv, dict(os.environ), file_actions=actions, setsid=True)
    _write_pidfile(paths.pidfile, pid)
    url = f"http://{host}:{port}"
    deadline = time.monotonic() + ready_timeout
    while time.monotonic() < deadline:
        if not process_alive(pid):
            paths.pidfile.unlink(missing_ok=True)
            tail = _log_tail(paths.log)
            error = StateUnreadable if "failed to parse json file" in tail else ChainError
            raise error(
                f"anvil exited while starting: {tail.splitlines()[-1] if tail else 'no output'}",
                hint=f"see {paths.log}",
            )
        if rpc_chain_id(url, timeout=1.0) is not None:
            return AnvilProcess(pid=pid, port=port)
        time.sleep(0.05)
    stop_anvil(pid)
    paths.pidfile.unlink(missing_ok=True)
    raise ChainError(
        f"anvil (pid {pid}) did not answer on {url} within {ready_timeout:.0f} s",
        hint=f"see {paths.log}",
    )


def _write_pidfile(path: Path, pid: int) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(f"{pid}\n", encoding="ascii")
    tmp.replace(path)


def stop_anvil(pid: int, *, timeout: float = 120.0) -> None:
    """SIGTERM and wait, so that anvil writes its state file one last time.

    Never SIGKILL: anvil rewrites state.json in place, and a kill in the middle of that write
    leaves a file it cannot load again.
    """
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while process_alive(pid):
        if time.monotonic() > deadline:
            raise ChainError(
                f"anvil (pid {pid}) did not stop within {timeout:.0f} s of SIGTERM",
                hint=f"`kill -9 {pid}` stops it, losing up to the last second of chain state",
            )
        time.sleep(0.05)
