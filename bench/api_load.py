"""The HTTP API's read endpoints under concurrent load, against a bare FastAPI endpoint.

Sets up an anvil of its own with a community and ``--items`` public items, serves the API
(``create_app``) and, in the same run, a bare FastAPI app with one JSON endpoint, each by
uvicorn in a process of its own; a second process on loopback sends requests from
``--clients`` threads (bounded also by ``--max-requests`` per run) to each in turn: the API's
``/items``, ``/items/{id}``, ``/communities``, ``/events`` and ``/health`` in rotation, the
bare app's one endpoint, for ``--seconds`` in all to each (12). Reports requests per second
of each, their ratio (target: at least 0.7), the API's p50 and p99 latency (and the p50 of
each kind of path) and its error count (target: 0). Last line JSON. ``--quick``: 2 s, one
round, 3 items.

On a shared machine the load of others comes and goes: a bare run and an API run minutes
apart measure different machines. So the runs are split into ``--rounds`` pairs, each pair a
bare run and an API run back to back (in alternating order, ABBA), and the ratio reported is
the median of the pairs' ratios, with their spread and the load average before and after
(``ratio_spread`` much above 0.1 says the machine was too busy for the figure to mean much).

    .venv/bin/python bench/api_load.py --quick
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx
from _world import bench_community, free_port, local_chain
from PIL import Image

from ledger.registry import Registry

BARE_SOURCE = """
from fastapi import FastAPI
app = FastAPI()

@app.get("/items")
async def items() -> dict[str, object]:
    return {"total": 1, "items": [{"id": "0x" + "ab" * 32, "title": "bench"}]}
"""


def _serve(kind: str, data: str, rpc: str, port: int) -> subprocess.Popen[bytes]:
    if kind == "bare":
        code = BARE_SOURCE + f"\nimport uvicorn\nuvicorn.run(app, port={port}, log_level='error')"
    else:
        code = (
            "import uvicorn\nfrom api.app import create_app\n"
            "from ledger.settings import load_settings\n"
            f"s = load_settings(env={{}}, data_dir={data!r}, rpc_url={rpc!r}, fsync=False)\n"
            f"uvicorn.run(create_app(s), port={port}, log_level='error')"
        )
    process = subprocess.Popen([sys.executable, "-c", code])
    for _ in range(600):
        try:
            httpx.get(f"http://127.0.0.1:{port}/items", timeout=60)
            return process
        except httpx.TransportError:
            time.sleep(0.1)
    process.kill()
    raise RuntimeError(f"the {kind} server did not start")


def _load(base: str, paths: list[str], clients: int, seconds: float, cap: int, out: Any) -> None:
    """In the second process: ``clients`` threads, each on its own connection."""
    latencies: list[float] = []
    by_path: dict[str, list[float]] = {}
    errors = 0
    lock = threading.Lock()
    sent = 0
    # Clients are made before the clock starts: making one (its TLS context) is slow on a
    # loaded machine, and is no part of what is measured.
    clients_made = [httpx.Client(base_url=base, timeout=60) for _ in range(clients)]
    stop = time.monotonic() + seconds

    def worker(offset: int) -> None:
        nonlocal errors, sent
        with clients_made[offset] as client:
            i = offset
            while time.monotonic() < stop:
                with lock:
                    if sent >= cap:
                        return
                    sent += 1
                path = paths[i % len(paths)]
                i += 1
                start = time.perf_counter()
                try:
                    ok = client.get(path).status_code == 200
                except httpx.HTTPError:
                    ok = False
                took = time.perf_counter() - start
                with lock:
                    latencies.append(took)
                    by_path.setdefault(path, []).append(took)
                    errors += 0 if ok else 1

    begin = time.monotonic()
    threads = [threading.Thread(target=worker, args=(n,)) for n in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - begin
    out.put({"count": len(latencies), "elapsed": elapsed, "errors": errors,
             "latencies": sorted(latencies), "by_path": by_path})  # fmt: skip


def _run(base: str, paths: list[str], args: argparse.Namespace) -> dict[str, Any]:
    spawn = multiprocessing.get_context("spawn")
    queue = spawn.Queue()
    seconds = args.seconds / args.rounds
    process = spawn.Process(
        target=_load, args=(base, paths, args.clients, seconds, args.max_requests, queue)
    )
    process.start()
    result: dict[str, Any] = queue.get()
    process.join()
    return result


def _merged(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The runs of one server as one: counts, time and errors summed, latencies together."""
    return {
        "count": sum(r["count"] for r in runs),
        "elapsed": sum(r["elapsed"] for r in runs),
        "errors": sum(r["errors"] for r in runs),
        "latencies": sorted(x for r in runs for x in r["latencies"]),
        "by_path": {
            path: sorted(x for r in runs for x in r["by_path"].get(path, []))
            for path in {p for r in runs for p in r["by_path"]}
        },
    }


def _kinds(by_path: dict[str, list[float]]) -> dict[str, list[float]]:
    kinds: dict[str, list[float]] = {}
    for path, times in by_path.items():
        kind = "/items/{id}" if path.startswith("/items/") else path
        kinds.setdefault(kind, []).extend(times)
    return kinds


def _quantile(values: list[float], q: float) -> float:
    return values[min(len(values) - 1, int(q * len(values)))] if values else 0.0


def _images(folder: Path, count: int) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for n in range(count):
        path = folder / f"item-{n}.png"
        Image.new("RGB", (8, 8), (n * 7 % 256, 40, 90)).save(path)
        paths.append(path)
    return paths


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="2 s per run, 3 items")
    parser.add_argument(
        "--seconds", type=float, default=None, help="length of all runs of a server (12)"
    )
    parser.add_argument("--clients", type=int, default=8, help="concurrent clients (8)")
    parser.add_argument("--items", type=int, default=None, help="public items (10)")
    parser.add_argument("--max-requests", type=int, default=20_000, help="cap per run")
    parser.add_argument(
        "--rounds", type=int, default=None, help="pairs of runs the seconds split into (6)"
    )
    args = parser.parse_args(argv)
    args.seconds = args.seconds or (2.0 if args.quick else 12.0)
    args.rounds = args.rounds or (1 if args.quick else 6)
    count = args.items or (3 if args.quick else 10)
    if min(args.seconds, args.clients, count, args.max_requests, args.rounds) <= 0:
        parser.error("--seconds, --clients, --items, --max-requests and --rounds must be positive")
    with local_chain("api") as (root, settings):
        with Registry(settings) as registrar:
            community = bench_community(registrar, root)
            registered = registrar.items.register(
                _images(root / "files", count), community.id, community.terms, community.keys
            )
            ids = ["0x" + r.key.hex() for r in registered]
        api_port, bare_port = free_port(), free_port()
        api = _serve("api", str(settings.data_dir), settings.rpc_url, api_port)
        bare = _serve("bare", "", "", bare_port)
        try:
            paths = ["/items", "/communities", "/events?limit=50", "/health"]
            paths += [f"/items/{i}" for i in ids]
            for path in paths:  # every path answers before it is timed
                response = httpx.get(f"http://127.0.0.1:{api_port}{path}", timeout=120)
                assert response.status_code == 200, (path, response.text)
            load_before = os.getloadavg()[0]
            pairs = []
            for n in range(args.rounds):
                order = ["bare", "api"] if n % 2 == 0 else ["api", "bare"]
                pair = {
                    kind: _run(
                        f"http://127.0.0.1:{bare_port if kind == 'bare' else api_port}",
                        ["/items"] if kind == "bare" else paths,
                        args,
                    )
                    for kind in order
                }
                pairs.append(pair)
            load_after = os.getloadavg()[0]
        finally:
            for process in (api, bare):
                process.terminate()
                process.wait(timeout=30)
    base = _merged([p["bare"] for p in pairs])
    load = _merged([p["api"] for p in pairs])
    base_rps = base["count"] / base["elapsed"]
    api_rps = load["count"] / load["elapsed"]
    ratios = sorted(
        (p["api"]["count"] / p["api"]["elapsed"]) / (p["bare"]["count"] / p["bare"]["elapsed"])
        for p in pairs
        if p["bare"]["count"] and p["api"]["count"]
    )
    ratio = statistics.median(ratios) if ratios else None
    report = {
        "benchmark": "api_load",
        "clients": args.clients,
        "seconds": args.seconds,
        "items": count,
        "bare_rps": round(base_rps, 1),
        "api_rps": round(api_rps, 1),
        "ratio": round(ratio, 3) if ratio is not None else None,
        "ratio_target": 0.7,
        "rounds": args.rounds,
        "round_ratios": [round(r, 3) for r in ratios],
        "ratio_spread": round(ratios[-1] - ratios[0], 3) if ratios else None,
        "loadavg_before": round(load_before, 2),
        "loadavg_after": round(load_after, 2),
        "p50_ms": round(_quantile(load["latencies"], 0.5) * 1000, 2),
        "p99_ms": round(_quantile(load["latencies"], 0.99) * 1000, 2),
        "requests": load["count"],
        # Where the time goes: the p50 of each kind of path (every /items/{id} together).
        "p50_ms_by_path": {
            path: round(_quantile(sorted(times), 0.5) * 1000, 2)
            for path, times in _kinds(load["by_path"]).items()
        },
        "errors": load["errors"] + base["errors"],
    }
    print(
        f"bare FastAPI: {base_rps:.0f} req/s; API reads: {api_rps:.0f} req/s "
        f"(ratio {report['ratio']}, median of {args.rounds} pairs, spread "
        f"{report['ratio_spread']}), p99 {report['p99_ms']} ms, errors {report['errors']}"
    )
    print(json.dumps(report, sort_keys=True))
    # No request at all is a failed run, not a fast one.
    return 0 if report["errors"] == 0 and load["count"] and base["count"] else 1


if __name__ == "__main__":
    sys.exit(main())
