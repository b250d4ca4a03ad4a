"""The IPFS gateway against a bare static file server, serving the same files on loopback.

Writes a folder of small files (``--files``, 1–16 KiB of random bytes each, in ``sub/``) and
one large file (256 MiB; 32 MiB with ``--quick``) to a temporary directory, adds the folder
to an embedded node (CIDv1, raw leaves: the registration default; ``--cid-version 0`` for
Kubo's ``ipfs add`` default) in the same temporary directory, and starts two servers, each a
child process running uvicorn on 127.0.0.1 with the same settings:

* ours: :func:`api.ipfs.create_ipfs_app` over that node;
* baseline: a bare starlette app with ``StaticFiles`` over the folder on disk.

Then, interleaved (each round runs every side, in a rotating order, so a busy moment on the
machine hits them alike), ``--rounds`` times (3; 1 with ``--quick``):

* small files by path: ``--clients`` threads (16, spread over ``--client-processes``, 4, so
  that the clients' own interpreter lock is not what is measured), each with one keep-alive
  connection, fetch the small files for ``--seconds`` (4; 1 with ``--quick``):
  ``/ipfs/DIRCID/sub/NAME`` from ours, ``/sub/NAME`` from the baseline; also, as information,
  the same files from ours by their own CID (``/ipfs/FILECID``). Requests per second;
* the large file: one client reads it whole, in 1 MiB reads. MB/s (10**6 bytes).

Every answer's status and length are checked, and one fetch of every file from each side
is compared byte for byte (outside the timing). Beside each rate, the server's CPU time (user
+ system, from ``/proc``) per request or per MB: on a machine shared with other work the
rates move with the neighbours, the CPU cost much less. Reports the medians of the rounds, the
ratios ours ÷ baseline (``ratio_path``, ``ratio_large``) and the targets of issue 11 (each
at least 0.8) as [ok] or [under]: information, not a test. Prints a table, then one JSON
object as the last line.

    .venv/bin/python bench/gateway.py --quick
"""

from __future__ import annotations

import argparse
import hashlib
import http.client
import json
import multiprocessing
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

MiB = 1 << 20
TARGET_RATIO = 0.8
SMALL_MIN = 1024
SMALL_MAX = 16 * 1024


# ---- the servers (child processes) ---------------------------------------------------------


def serve(kind: str, root: Path, cid_version: int) -> None:
    """Run one side under uvicorn on a free loopback port; print the port, then serve."""
    import uvicorn

    if kind == "ipfs":
        from api.ipfs import create_ipfs_app
        from ledger.ipfs.backend import EmbeddedNode
        from ledger.settings import Settings

        settings = Settings(data_dir=root / "data", fsync=False)
        app: Callable[..., object] = create_ipfs_app(settings, EmbeddedNode.open(settings))
    else:
        from starlette.applications import Starlette
        from starlette.routing import Mount
        from starlette.staticfiles import StaticFiles

        app = Starlette(routes=[Mount("/", app=StaticFiles(directory=root / "site"))])
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    print(sock.getsockname()[1], flush=True)
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="on")
    uvicorn.Server(config).run(sockets=[sock])


class Server:
    """One side, started as a child process of this script."""

    def __init__(self, kind: str, root: Path, cid_version: int) -> None:
        argv = [sys.executable, str(Path(__file__).resolve()), "--serve", kind, "--root", str(root)]
        argv += ["--cid-version", str(cid_version)]
        self.process = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True)
        assert self.process.stdout is not None
        line = self.process.stdout.readline().strip()
        if not line.isdigit():
            self.process.kill()
            raise RuntimeError(f"the {kind} server did not start")
        self.port = int(line)
        for _ in range(500):  # the port is bound before uvicorn accepts: wait for an answer
            try:
                connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
                connection.request("HEAD", "/")
                connection.getresponse().read()
                connection.close()
                return
            except OSError:
                time.sleep(0.02)
        self.close()
        raise RuntimeError(f"the {kind} server does not answer")

    def cpu_seconds(self) -> float | None:
        """User + system CPU time of the server so far (Linux; None elsewhere)."""
        try:
            fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return None
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def close(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


# ---- the clients ---------------------------------------------------------------------------


def client_threads(
    port: int,
    paths: list[tuple[str, int]],
    indices: range,
    clients: int,
    start_at: float,
    seconds: float,
) -> int:
    """Clients ``indices`` (of ``clients``), each a thread with one keep-alive connection,
    fetching their share of ``paths`` from ``start_at`` (``time.time()``) for ``seconds``;
    the number of answers, each checked for status and length."""
    counts = [0] * len(indices)
    errors: list[str] = []

    def client(slot: int, index: int) -> None:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        order = paths[index::clients] or paths
        connection.connect()
        time.sleep(max(0.0, start_at - time.time()))
        deadline = start_at + seconds
        done = 0
        try:
            while time.time() < deadline:
                path, size = order[done % len(order)]
                connection.request("GET", path)
                response = connection.getresponse()
                body = response.read()
                if response.status != 200 or len(body) != size:
                    errors.append(f"GET {path}: {response.status}, {len(body)} bytes")
                    return
                done += 1
        except (OSError, http.client.HTTPException) as exc:
            errors.append(f"client {index}: {exc!r}")
        finally:
            counts[slot] = done
            connection.close()

    threads = [
        threading.Thread(target=client, args=(slot, index)) for slot, index in enumerate(indices)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise RuntimeError(errors[0])
    return sum(counts)


def requests_per_second(
    pool: ProcessPoolExecutor,
    processes: int,
    port: int,
    paths: list[tuple[str, int]],
    clients: int,
    seconds: float,
) -> tuple[float, float]:
    """(Requests per second, requests) of ``clients`` keep-alive clients fetching ``paths``,
    spread over ``processes`` client processes (one Python process alone, with its one
    interpreter lock, would measure itself rather than the server)."""
    start_at = time.time() + 0.5  # every process connected and waiting by then
    shares = [range(k, clients, processes) for k in range(processes)]
    jobs = [
        pool.submit(client_threads, port, paths, share, clients, start_at, seconds)
        for share in shares
        if share
    ]
    done = sum(job.result() for job in jobs)
    return done / seconds, done


def megabytes_per_second(port: int, path: str, size: int) -> tuple[float, float]:
    """(MB/s, MB) (10**6 bytes) of one client reading ``path`` whole."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    buffer = bytearray(MiB)
    try:
        began = time.perf_counter()
        connection.request("GET", path)
        response = connection.getresponse()
        if response.status != 200:
            raise RuntimeError(f"GET {path} answered {response.status}")
        got = 0
        while True:
            n = response.readinto(buffer)
            if not n:
                break
            got += n
        elapsed = time.perf_counter() - began
    finally:
        connection.close()
    if got != size:
        raise RuntimeError(f"GET {path} sent {got} bytes, not {size}")
    return size / elapsed / 1e6, size / 1e6


# ---- the run -------------------------------------------------------------------------------


def make_files(site: Path, count: int, large_bytes: int) -> tuple[dict[str, bytes], str]:
    """The small files (name → bytes) under ``site/sub``; the large file as ``site/large.bin``
    (its SHA-256)."""
    rng = random.Random(20261203)
    (site / "sub").mkdir(parents=True)
    small: dict[str, bytes] = {}
    for i in range(count):
        name = f"file-{i:04d}.bin"
        data = rng.randbytes(rng.randint(SMALL_MIN, SMALL_MAX))
        (site / "sub" / name).write_bytes(data)
        small[name] = data
    digest = hashlib.sha256()
    with (site / "large.bin").open("wb") as out:
        left = large_bytes
        while left:
            piece = os.urandom(min(left, 8 * MiB))
            out.write(piece)
            digest.update(piece)
            left -= len(piece)
    return small, digest.hexdigest()


def add_to_node(root: Path, cid_version: int) -> tuple[str, dict[str, str], str]:
    """Add ``root/site`` to an embedded node in ``root/data``: (folder CID, small file CIDs
    by name, large file CID)."""
    from ledger.ipfs.backend import EmbeddedNode
    from ledger.ipfs.unixfs import ImportOptions
    from ledger.settings import Settings

    node = EmbeddedNode.open(Settings(data_dir=root / "data", fsync=False))
    try:
        entries = node.add_path(root / "site", ImportOptions(cid_version=cid_version))
    finally:
        node.close()
    by_path = {entry.path: str(entry.cid) for entry in entries}
    small = {p.rsplit("/", 1)[1]: cid for p, cid in by_path.items() if "/sub/" in p}
    large = next(cid for p, cid in by_path.items() if p.endswith("/large.bin"))
    return str(entries[-1].cid), small, large


def sha256_of(port: int, path: str) -> str:
    """The SHA-256 of one answer's body, read in 1 MiB pieces."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        if response.status != 200:
            raise RuntimeError(f"GET {path} answered {response.status}")
        digest = hashlib.sha256()
        while piece := response.read(MiB):
            digest.update(piece)
        return digest.hexdigest()
    finally:
        connection.close()


def check_same(ours: int, static: int, pairs: list[tuple[str, str, str]]) -> None:
    """Each file from both sides, byte for byte as written (pairs of paths and SHA-256)."""
    for our_path, static_path, expected in pairs:
        for port, path in ((ours, our_path), (static, static_path)):
            if sha256_of(port, path) != expected:
                raise RuntimeError(f"GET {path} did not answer the file's bytes")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="a 32 MiB file, 1 round of 1 s")
    parser.add_argument("--rounds", type=int, default=None, help="interleaved rounds (median)")
    parser.add_argument("--seconds", type=float, default=None, help="length of each rps run")
    parser.add_argument("--clients", type=int, default=16, help="concurrent clients (16)")
    parser.add_argument(
        "--client-processes", type=int, default=4, help="processes the clients run in (4)"
    )
    parser.add_argument("--files", type=int, default=200, help="small files (200)")
    parser.add_argument("--large-mib", type=int, default=None, help="large file size in MiB")
    parser.add_argument("--cid-version", type=int, choices=(0, 1), default=1)
    parser.add_argument("--serve", choices=("ipfs", "static"), help=argparse.SUPPRESS)
    parser.add_argument("--root", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve:
        serve(args.serve, args.root, args.cid_version)
        return 0
    rounds = args.rounds or (1 if args.quick else 3)
    seconds = args.seconds or (1.0 if args.quick else 4.0)
    large_mib = args.large_mib or (32 if args.quick else 256)
    if min(rounds, large_mib, args.clients, args.files, args.client_processes) < 1 or seconds <= 0:
        parser.error(
            "--rounds, --seconds, --large-mib, --clients, --client-processes and --files must "
            "be positive"
        )
    large_bytes = large_mib * MiB

    with tempfile.TemporaryDirectory(prefix="gateway-bench-") as scratch:
        root = Path(scratch)
        small, large_sha256 = make_files(root / "site", args.files, large_bytes)
        folder, small_cids, large_cid = add_to_node(root, args.cid_version)
        by_path = [(f"/ipfs/{folder}/sub/{name}", len(data)) for name, data in small.items()]
        by_cid = [(f"/ipfs/{small_cids[name]}", len(data)) for name, data in small.items()]
        static_paths = [(f"/sub/{name}", len(data)) for name, data in small.items()]
        processes = min(args.client_processes, args.clients)
        spawn = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(processes, mp_context=spawn) as pool:
            list(pool.map(time.sleep, [0.2] * processes))  # every client process started
            ours = Server("ipfs", root, args.cid_version)
            try:
                static = Server("static", root, args.cid_version)
                try:
                    pairs = [
                        (
                            f"/ipfs/{folder}/sub/{name}",
                            f"/sub/{name}",
                            hashlib.sha256(data).hexdigest(),
                        )
                        for name, data in small.items()
                    ]
                    pairs.append((f"/ipfs/{folder}/large.bin", "/large.bin", large_sha256))
                    check_same(ours.port, static.port, pairs)
                    runs: dict[str, tuple[Server, Callable[[], tuple[float, float]]]] = {
                        "path_rps": (
                            ours,
                            lambda: requests_per_second(
                                pool, processes, ours.port, by_path, args.clients, seconds
                            ),
                        ),
                        "cid_rps": (
                            ours,
                            lambda: requests_per_second(
                                pool, processes, ours.port, by_cid, args.clients, seconds
                            ),
                        ),
                        "static_rps": (
                            static,
                            lambda: requests_per_second(
                                pool, processes, static.port, static_paths, args.clients, seconds
                            ),
                        ),
                        "large_mbps": (
                            ours,
                            lambda: megabytes_per_second(
                                ours.port, f"/ipfs/{folder}/large.bin", large_bytes
                            ),
                        ),
                        "static_large_mbps": (
                            static,
                            lambda: megabytes_per_second(static.port, "/large.bin", large_bytes),
                        ),
                    }
                    figures: dict[str, list[float]] = {name: [] for name in runs}
                    cpu_per_unit: dict[str, list[float]] = {name: [] for name in runs}
                    load_before = os.getloadavg()[0]
                    for round_ in range(rounds):
                        names = list(runs)
                        names = names[round_ % len(names) :] + names[: round_ % len(names)]
                        for name in names:
                            server, run = runs[name]
                            cpu_before = server.cpu_seconds()
                            figure, units = run()
                            cpu_after = server.cpu_seconds()
                            figures[name].append(figure)
                            if cpu_before is not None and cpu_after is not None and units:
                                cpu_per_unit[name].append((cpu_after - cpu_before) / units * 1e3)
                    load_after = os.getloadavg()[0]
                finally:
                    static.close()
            finally:
                ours.close()

    median = {name: statistics.median(values) for name, values in figures.items()}
    ratio_path = median["path_rps"] / median["static_rps"]
    ratio_large = median["large_mbps"] / median["static_large_mbps"]
    report = {
        "rounds": rounds,
        "seconds": seconds,
        "clients": args.clients,
        "client_processes": min(args.client_processes, args.clients),
        "files": args.files,
        "large_bytes": large_bytes,
        "cid_version": args.cid_version,
        "cpu_count": os.cpu_count(),
        "load_avg_1min_before": round(load_before, 2),
        "load_avg_1min_after": round(load_after, 2),
        "folder_cid": folder,
        "large_cid": large_cid,
        **{name: round(value, 1) for name, value in median.items()},
        # server CPU, ms per request or per MB: steadier than rates on a busy machine
        **{
            name.rsplit("_", 1)[0]
            + ("_cpu_ms_per_request" if "rps" in name else "_cpu_ms_per_mb"): round(
                statistics.median(values), 3
            )
            for name, values in cpu_per_unit.items()
            if values
        },
        "ratio_path": round(ratio_path, 3),
        "ratio_large": round(ratio_large, 3),
        "target_ratio": TARGET_RATIO,
        "path_within_target": ratio_path >= TARGET_RATIO,
        "large_within_target": ratio_large >= TARGET_RATIO,
    }
    print(
        f"medians of {rounds} interleaved rounds; {args.clients} clients, {args.files} small "
        f"files of {SMALL_MIN // 1024}-{SMALL_MAX // 1024} KiB, a {large_mib} MiB file; load "
        f"average {load_before:.2f} before, {load_after:.2f} after, {os.cpu_count()} CPUs"
    )
    print(f"{'':<36}{'ours':>10}{'starlette':>11}{'ratio':>8}   target ≥ {TARGET_RATIO:g}×")
    for label, mine, theirs in (
        ("small files by path, requests/s", "path_rps", "static_rps"),
        ("large file, MB/s", "large_mbps", "static_large_mbps"),
    ):
        ratio = median[mine] / median[theirs]
        mark = "[ok]" if ratio >= TARGET_RATIO else "[under]"
        print(f"{label:<36}{median[mine]:>10.1f}{median[theirs]:>11.1f}{ratio:>7.2f}×   {mark}")
    print(f"{'small files by own CID, requests/s':<36}{median['cid_rps']:>10.1f}   (information)")
    for label, mine, theirs in (
        ("server CPU, ms per request by path", "path", "static"),
        ("server CPU, ms per MB (large file)", "large", "static_large"),
    ):
        unit = "request" if "request" in label else "mb"
        ours_cpu = report.get(f"{mine}_cpu_ms_per_{unit}")
        theirs_cpu = report.get(f"{theirs}_cpu_ms_per_{unit}")
        if isinstance(ours_cpu, float) and isinstance(theirs_cpu, float):
            print(f"{label:<36}{ours_cpu:>10.3f}{theirs_cpu:>11.3f}   (information)")
    print("targets: information, not a test")
    sys.stdout.flush()
    print(json.dumps(report, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
