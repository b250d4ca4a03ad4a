"""UnixFS CID throughput against bare sha256, measured in the same run.

Creates a file of random bytes (1 GiB; 256 MiB with ``--quick``; any size with
``--file-size``) in a temporary folder, reads it once to warm the page cache, then times,
best of ``--runs``:

* ours: ``ledger.ipfs.unixfs.import_file(path)`` hashing only (no block sink, default
  workers), i.e. ``ipfs add --only-hash``;
* sha256 1t: ``hashlib.sha256`` over the whole file on one thread, reading 256 KiB chunks
  into one buffer with ``os.preadv``;
* sha256 2t: a bare sha256 of each 256 KiB chunk on two threads, each reading its own
  chunks with ``os.pread``.

The peak RSS of an import is measured in a separate child process (``ru_maxrss`` of
``RUSAGE_CHILDREN``, KiB on Linux). Prints a human summary, then one JSON object as the last
line: ``ratio_1t`` and ``ratio_2t`` are our bytes/s divided by each baseline's.

    .venv/bin/python bench/cid_throughput.py --quick
    .venv/bin/python bench/cid_throughput.py --file-size 4GiB     # peak RSS target: 256 MiB
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import resource
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

from ledger.ipfs.unixfs import CHUNK_SIZE, ImportOptions, import_file

MiB = 1 << 20
GiB = 1 << 30
RSS_TARGET_MIB = 256
RATIO_2T_TARGET = 0.9
_SIZE_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?i?b?)?\s*$", re.IGNORECASE)
_UNITS = {"": 1, "b": 1, "k": 1 << 10, "m": MiB, "g": GiB, "t": 1 << 40}


def parse_size(text: str) -> int:
    """``4GiB``, ``256M``, ``1073741824`` → bytes (binary units whatever the spelling)."""
    match = _SIZE_RE.match(text)
    if match is None:
        raise argparse.ArgumentTypeError(f"not a size: {text!r} (try 256MiB or 4GiB)")
    unit = (match.group(2) or "").lower()[:1]
    size = int(float(match.group(1)) * _UNITS[unit])
    if size <= 0:
        raise argparse.ArgumentTypeError("the file size must be positive")
    return size


def make_random_file(path: Path, size: int) -> None:
    # Small pieces keep this process's peak RSS low: a child started later inherits it as a
    # floor of its ru_maxrss (Linux records the old address space's peak at exec).
    piece = MiB
    with path.open("wb") as out:
        left = size
        while left:
            n = min(piece, left)
            out.write(os.urandom(n))
            left -= n


def warm(path: Path) -> None:
    """Read the file once so every timed run reads from the page cache."""
    buf = bytearray(MiB)
    with path.open("rb", buffering=0) as f:
        while f.readinto(buf):
            pass


def best_of_interleaved(runs: int, fns: dict[str, Callable[[], object]]) -> dict[str, float]:
    """Best wall time of each function over ``runs`` rounds; each round runs every function
    once, so a noisy moment on the machine hits all of them alike."""
    best = dict.fromkeys(fns, float("inf"))
    for _ in range(runs):
        for name, fn in fns.items():
            start = time.perf_counter()
            fn()
            best[name] = min(best[name], time.perf_counter() - start)
    return best


def sha256_one_thread(path: Path) -> str:
    buf = bytearray(CHUNK_SIZE)
    view = memoryview(buf)
    h = hashlib.sha256()
    fd = os.open(path, os.O_RDONLY)
    try:
        offset = 0
        while True:
            n = os.preadv(fd, [buf], offset)
            if n == 0:
                break
            h.update(view[:n])
            offset += n
    finally:
        os.close(fd)
    return h.hexdigest()


def sha256_chunks_two_threads(path: Path) -> int:
    size = path.stat().st_size
    chunks = (size + CHUNK_SIZE - 1) // CHUNK_SIZE
    fd = os.open(path, os.O_RDONLY)
    done = [0, 0]

    def work(k: int) -> None:
        for i in range(k, chunks, 2):
            hashlib.sha256(os.pread(fd, CHUNK_SIZE, i * CHUNK_SIZE)).digest()
            done[k] += 1

    try:
        threads = [threading.Thread(target=work, args=(k,)) for k in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        os.close(fd)
    if sum(done) != chunks:
        raise RuntimeError("a baseline thread stopped early")
    return chunks


def ours(path: Path) -> str:
    return str(import_file(path, ImportOptions()).cid)


def child_peak_rss_mib(path: Path) -> tuple[float, str]:
    """Import ``path`` in a fresh child process; its peak RSS in MiB and the CID it printed."""
    proc = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), "--child-import", str(path)],
        check=True,
        capture_output=True,
        text=True,
    )
    maxrss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    peak_kib = maxrss / 1024 if sys.platform == "darwin" else maxrss  # macOS: bytes; Linux: KiB
    return peak_kib / 1024, proc.stdout.strip()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="a 256 MiB file instead of 1 GiB")
    parser.add_argument(
        "--file-size",
        type=parse_size,
        default=None,
        help="file size, e.g. 4GiB (overrides --quick)",
    )
    parser.add_argument("--runs", type=int, default=3, help="timed runs of each (best counts)")
    parser.add_argument("--dir", type=Path, default=None, help="where to put the temporary file")
    parser.add_argument("--child-import", type=Path, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.child_import is not None:
        print(ours(args.child_import))
        return 0

    size = args.file_size or (256 * MiB if args.quick else GiB)
    workers = ImportOptions().worker_count
    with tempfile.TemporaryDirectory(prefix="cid-bench-", dir=args.dir) as scratch:
        path = Path(scratch) / "random.bin"
        print(f"writing {size / MiB:.0f} MiB of random bytes to {path} ...", flush=True)
        make_random_file(path, size)
        warm(path)

        # The child runs first: this process has no other child and is still small.
        peak_rss, child_cid = child_peak_rss_mib(path)
        cid = ours(path)
        if cid != child_cid:
            raise RuntimeError(f"the child computed {child_cid}, this process {cid}")
        best = best_of_interleaved(
            args.runs,
            {
                "ours": lambda: ours(path),
                "1t": lambda: sha256_one_thread(path),
                "2t": lambda: sha256_chunks_two_threads(path),
            },
        )
        t_ours, t_1t, t_2t = best["ours"], best["1t"], best["2t"]

    mib = size / MiB
    ours_mib_s, one_mib_s, two_mib_s = mib / t_ours, mib / t_1t, mib / t_2t
    ratio_1t, ratio_2t = ours_mib_s / one_mib_s, ours_mib_s / two_mib_s
    report = {
        "file_bytes": size,
        "runs": args.runs,
        "workers": workers,
        "cpu_count": os.cpu_count(),
        "cid": cid,
        "ours_mib_s": round(ours_mib_s, 1),
        "sha256_1t_mib_s": round(one_mib_s, 1),
        "sha256_2t_mib_s": round(two_mib_s, 1),
        "ratio_1t": round(ratio_1t, 3),
        "ratio_2t": round(ratio_2t, 3),
        "peak_rss_mib": round(peak_rss, 1),
        "ratio_2t_target": RATIO_2T_TARGET,
        "peak_rss_target_mib": RSS_TARGET_MIB,
    }
    print(f"file:            {mib:.0f} MiB, best of {args.runs}, {workers} import workers")
    print(f"ours (only-hash) {ours_mib_s:8.1f} MiB/s   {cid}")
    print(f"sha256 1 thread  {one_mib_s:8.1f} MiB/s   ratio {ratio_1t:.3f}")
    print(f"sha256 2 threads {two_mib_s:8.1f} MiB/s   ratio {ratio_2t:.3f}")
    print(f"peak RSS of an import (child process): {peak_rss:.1f} MiB")
    if ratio_2t < RATIO_2T_TARGET:
        print(f"BELOW TARGET: ratio_2t < {RATIO_2T_TARGET}")
    if peak_rss > RSS_TARGET_MIB:
        print(f"ABOVE TARGET: peak RSS > {RSS_TARGET_MIB} MiB")
    print(json.dumps(report, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
