"""Every benchmark starts the way `make bench` starts it: `.venv/bin/python bench/NAME.py`
from the repository root, with nothing added to sys.path (only bench/ is on it). A bench
that imports from tests/ or another unimportable place fails here, not only at `make bench`."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
BENCHES = sorted(p for p in (REPO / "bench").glob("*.py") if not p.name.startswith("_"))


def test_there_are_benchmarks() -> None:
    assert {p.name for p in BENCHES} >= {"cid_throughput.py", "gas.py", "verify.py"}


@pytest.mark.parametrize("script", BENCHES, ids=lambda p: p.name)
def test_a_benchmark_imports_and_parses_its_arguments(script: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH",)}
    done = subprocess.run(
        [sys.executable, str(script.relative_to(REPO)), "--help"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "usage:" in done.stdout
