"""A registration request over HTTP (``POST /items``, a signed multipart upload) against the
same request made in-process (``registry.registrations.request`` on a file already on disk).

Sets up an anvil of its own with a 2-of-3 community, serves the API (``create_app``) by
uvicorn in a process of its own, and for each of ``--runs`` files of ``--mib`` MiB (random
bytes, so no block repeats): uploads one, streamed from disk in 1 MiB chunks and signed over
its SHA-256, and has the server's process report its peak resident memory; then makes the
same request in-process for another file of that size (the baseline: no HTTP, no spooling).
Reports MiB per second of each, their ratio (the upload path's cost), and how far the
server's peak memory grew during the uploads, against the file size (target: well under one
file: the upload is streamed, never held whole). Last line JSON. ``--quick``: 8 MiB, 1 run.

    .venv/bin/python bench/api_upload.py --quick
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
from _world import bench_community, free_port, local_chain

from ledger.registry import Registry

SERVER = """
import resource, threading, uvicorn
from api.app import create_app
from api.http.limits import ApiLimits
from ledger.settings import load_settings
s = load_settings(env={{}}, data_dir={data!r}, rpc_url={rpc!r}, fsync=False)
app = create_app(s, limits=ApiLimits(max_body={cap}))
@app.get("/bench-peak-rss")
async def peak() -> dict[str, int]:
    return {{"kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}}
uvicorn.run(app, port={port}, log_level="error")
"""


def _serve(data: Path, rpc: str, port: int, cap: int) -> subprocess.Popen[bytes]:
    code = SERVER.format(data=str(data), rpc=rpc, port=port, cap=cap)
    process = subprocess.Popen([sys.executable, "-c", code])
    for _ in range(600):
        try:
            httpx.get(f"http://127.0.0.1:{port}/health", timeout=60)
            return process
        except httpx.TransportError:
            time.sleep(0.1)
    process.kill()
    raise RuntimeError("the API server did not start")


def _random_file(path: Path, mib: int) -> Path:
    with path.open("wb") as out:
        for _ in range(mib):
            out.write(os.urandom(1 << 20))
    return path


def _upload(base: str, path: Path, terms: bytes, community: bytes, key: bytes) -> float:
    """Seconds to upload ``path`` to POST /items and get the request back."""
    from api.http.auth import sign_request

    boundary = "bench-" + os.urandom(8).hex()
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="terms"\r\n\r\n'.encode()
        + terms
        + f"\r\n--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; "
        f'filename="{path.name}"\r\n\r\n'.encode()
    )
    tail = f"\r\n--{boundary}--\r\n".encode()

    def body() -> Iterator[bytes]:
        yield head
        with path.open("rb") as stream:
            while chunk := stream.read(1 << 20):
                yield chunk
        yield tail

    # The signature covers the body's SHA-256: the client hashes it as it will send it.
    digest = hashlib.sha256()
    for chunk in body():
        digest.update(chunk)
    headers = sign_request(
        key, chain_id=31337, method="POST", path="/items", body=b"", community=community,
        nonce=os.urandom(32), expiry=int(time.time()) + 290, body_sha256=digest.digest(),
    )  # fmt: skip
    headers["Content-Type"] = f"multipart/form-data; boundary={boundary}"
    started = time.perf_counter()
    answer = httpx.post(f"{base}/items", content=body(), headers=headers, timeout=600)
    took = time.perf_counter() - started
    if answer.status_code != 200:
        raise RuntimeError(f"upload refused: {answer.status_code} {answer.text[:300]}")
    return took


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--mib", type=int, default=48, help="size of each file, MiB")
    parser.add_argument("--runs", type=int, default=2, help="files uploaded (and made here)")
    parser.add_argument("--quick", action="store_true", help="8 MiB, one run")
    args = parser.parse_args(argv)
    mib, runs = (8, 1) if args.quick else (args.mib, args.runs)
    report: dict[str, Any] = {"benchmark": "api_upload", "mib": mib, "runs": runs}
    with local_chain("upload") as (root, settings):
        with Registry(settings) as registrar:
            community = bench_community(registrar, root)
            holder = registrar.session.community(community.id).keyholders[0]
            key = bytes(community.keys.unlock(holder).key)
            baseline = 0.0
            for i in range(runs):
                path = _random_file(root / f"direct-{i}.bin", mib)
                started = time.perf_counter()
                registrar.registrations.request(path, community.id, community.terms)
                baseline += time.perf_counter() - started
        port = free_port()
        server = _serve(settings.data_dir, settings.rpc_url, port, (mib + 8) << 20)
        base = f"http://127.0.0.1:{port}"
        try:
            before = httpx.get(f"{base}/bench-peak-rss", timeout=60).json()["kib"]
            uploaded = 0.0
            terms = community.terms.read_bytes()
            for i in range(runs):
                path = _random_file(root / f"upload-{i}.bin", mib)
                uploaded += _upload(base, path, terms, community.id, key)
            after = httpx.get(f"{base}/bench-peak-rss", timeout=60).json()["kib"]
        finally:
            server.terminate()
            server.wait(timeout=30)
    direct_rate = mib * runs / baseline
    upload_rate = mib * runs / uploaded
    growth = (after - before) / 1024
    report.update(
        direct_mib_per_s=round(direct_rate, 2),
        upload_mib_per_s=round(upload_rate, 2),
        ratio=round(upload_rate / direct_rate, 3),
        server_peak_rss_growth_mib=round(growth, 1),
        growth_per_file=round(growth / mib, 3),
    )
    print(
        f"in-process {direct_rate:.1f} MiB/s, over HTTP {upload_rate:.1f} MiB/s "
        f"(ratio {upload_rate / direct_rate:.2f}); server peak memory grew {growth:.1f} MiB "
        f"for {mib} MiB files"
    )
    print(json.dumps(report, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
