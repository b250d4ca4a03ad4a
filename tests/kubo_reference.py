"""The JavaScript reference importer, run as Kubo's `ipfs add` would be configured."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
KUBO_REFERENCE = REPO / "tests" / "js" / "kubo_reference.mjs"


def run_kubo_reference(flags: Sequence[str], paths: list[Path]) -> list[str]:
    """Root CIDs that Kubo's `ipfs add -r` gives ``paths``, computed by the npm reference
    importer (tests/js/kubo_reference.mjs). Fails, never skips, when it cannot run."""
    node = shutil.which("node")
    if node is None or not (REPO / "node_modules" / "ipfs-unixfs-importer").is_dir():
        pytest.fail("the JS reference needs node and `npm ci` at the repository root")
    proc = subprocess.run(
        [node, str(KUBO_REFERENCE), *flags, "--", *map(str, paths)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    cids = proc.stdout.split()
    assert len(cids) == len(paths), proc.stdout
    return cids
