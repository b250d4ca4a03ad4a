"""Start-up time of the ``heritage`` command line against the import of its own framework.

Times, as separate processes and interleaved (each round runs all three, in a rotating
order, so a busy moment on the machine hits them alike), ``--runs`` times each (20; 5 with
``--quick``) after one untimed round that leaves every bytecode cache written (the children
write them even under ``PYTHONDONTWRITEBYTECODE``):

* framework: ``python -c "import typer, rich.console"``, the baseline;
* help: ``heritage --help``;
* cid: ``heritage cid FILE`` on a 1 KiB file of random bytes (its CID is checked against
  :func:`ledger.ipfs.unixfs.import_bytes` in this process).

``heritage`` is the console script next to this Python (else ``python -c "from api.cli
import main; main()"``), run with this checkout first on ``PYTHONPATH``, so the code
measured is the code here. Reports the median wall time of each and the median CPU time
(user + system of the child), ``ratio_help`` = help ÷ framework and ``ratio_cid`` = cid ÷
framework (medians of wall time), and the targets of issue 11 (each at most 0.3 s and at
most 3 × the framework) as [ok] or [over]: information, not a test. Prints a table, then one
JSON object as the last line.

    .venv/bin/python bench/cli_startup.py --quick
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from ledger.ipfs.unixfs import import_bytes

REPO = Path(__file__).resolve().parents[1]
FRAMEWORK_IMPORT = "import typer, rich.console"
TARGET_SECONDS = 0.3
TARGET_RATIO = 3.0
FILE_BYTES = 1024


def heritage_command() -> list[str]:
    """The ``heritage`` console script of this Python's environment, or its equivalent."""
    script = Path(sys.executable).parent / "heritage"
    if script.is_file():
        return [str(script)]
    return [sys.executable, "-c", "from api.cli import main; main()"]


def child_env() -> dict[str, str]:
    """This checkout first on the path, no HERITAGE_* settings from the caller, and bytecode
    caches written as a user's Python writes them (without them every run would compile the
    project's modules from source, and that would be what is measured)."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("HERITAGE_") and k != "PYTHONDONTWRITEBYTECODE"
    }
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH")) if p)
    return env


def run_once(argv: list[str], env: dict[str, str]) -> tuple[float, float, str]:
    """Wall seconds, CPU seconds (user + system) and standard output of one run."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(argv, env=env, cwd=REPO, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} exited {done.returncode}: {done.stderr.strip()}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, done.stdout


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="5 runs of each, not 20")
    parser.add_argument("--runs", type=int, default=None, help="timed runs of each (median)")
    args = parser.parse_args(argv)
    runs = args.runs or (5 if args.quick else 20)
    if runs < 1:
        parser.error("--runs must be at least 1")

    env = child_env()
    heritage = heritage_command()
    with tempfile.TemporaryDirectory(prefix="cli-startup-") as scratch:
        data = random.Random(20261203).randbytes(FILE_BYTES)
        path = Path(scratch) / "small.bin"
        path.write_bytes(data)
        expected = str(import_bytes(data).cid)
        env["HERITAGE_DATA_DIR"] = str(Path(scratch) / "data")  # never the user's own
        commands = {
            "framework": [sys.executable, "-c", FRAMEWORK_IMPORT],
            "help": [*heritage, "--help"],
            "cid": [*heritage, "cid", str(path)],
        }
        walls: dict[str, list[float]] = {name: [] for name in commands}
        cpus: dict[str, list[float]] = {name: [] for name in commands}
        load_before = os.getloadavg()[0]
        for round_ in range(runs + 1):  # round 0 is untimed: bytecode caches get written
            names = list(commands)
            names = names[round_ % 3 :] + names[: round_ % 3]
            for name in names:
                seconds, cpu_seconds, out = run_once(commands[name], env)
                if name == "cid" and out.strip() != expected:
                    raise RuntimeError(f"heritage cid printed {out.strip()!r}, not {expected}")
                if name == "help" and "Usage:" not in out:
                    raise RuntimeError("heritage --help printed no usage")
                if round_:
                    walls[name].append(seconds)
                    cpus[name].append(cpu_seconds)
        load_after = os.getloadavg()[0]

    wall = {name: statistics.median(values) for name, values in walls.items()}
    cpu = {name: statistics.median(values) for name, values in cpus.items()}
    ratio = {name: wall[name] / wall["framework"] for name in ("help", "cid")}
    within_seconds = {name: wall[name] <= TARGET_SECONDS for name in ("help", "cid")}
    within_ratio = {name: ratio[name] <= TARGET_RATIO for name in ("help", "cid")}
    report = {
        "runs": runs,
        "cpu_count": os.cpu_count(),
        "load_avg_1min_before": round(load_before, 2),
        "load_avg_1min_after": round(load_after, 2),
        "file_bytes": FILE_BYTES,
        "cid": expected,
        "framework_s": round(wall["framework"], 4),
        "help_s": round(wall["help"], 4),
        "cid_s": round(wall["cid"], 4),
        "framework_cpu_s": round(cpu["framework"], 4),
        "help_cpu_s": round(cpu["help"], 4),
        "cid_cpu_s": round(cpu["cid"], 4),
        "ratio_help": round(ratio["help"], 3),
        "ratio_cid": round(ratio["cid"], 3),
        "target_s": TARGET_SECONDS,
        "target_ratio": TARGET_RATIO,
        "help_within_target_s": within_seconds["help"],
        "help_within_target_ratio": within_ratio["help"],
        "cid_within_target_s": within_seconds["cid"],
        "cid_within_target_ratio": within_ratio["cid"],
    }
    print(
        f"medians of {runs} interleaved runs each; load average {load_before:.2f} before, "
        f"{load_after:.2f} after, {os.cpu_count()} CPUs"
    )
    targets = f"≤ {TARGET_SECONDS} s  ≤ {TARGET_RATIO:g}×"
    print(f"{'':<24}{'wall':>9}{'cpu':>9}{'× framework':>13}   {targets}")
    print(f"{'framework (typer, rich)':<24}{wall['framework']:>8.3f}s{cpu['framework']:>8.3f}s")
    for name, label in (("help", "heritage --help"), ("cid", "heritage cid (1 KiB)")):
        seconds_mark = "[ok]" if within_seconds[name] else "[over]"
        ratio_mark = "[ok]" if within_ratio[name] else "[over]"
        print(
            f"{label:<24}{wall[name]:>8.3f}s{cpu[name]:>8.3f}s{ratio[name]:>12.2f}×"
            f"   {seconds_mark:<9}{ratio_mark}"
        )
    print(
        f"targets (wall medians; information, not a test): at most {TARGET_SECONDS} s and at "
        f"most {TARGET_RATIO:g} × the framework; cpu: user + system time of the child, which "
        "a loaded machine inflates less than wall time"
    )
    sys.stdout.flush()
    print(json.dumps(report, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
