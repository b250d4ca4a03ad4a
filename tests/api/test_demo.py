"""``heritage demo``: run end to end as a person runs it (a real process, stdin closed, real
anvil and embedded node), with the small collection (one sample of each kind of terms) and
ports the test chooses. What the exhibit must show and exclude is written here from the terms
each sample was given (api/demo/collection.py), not read from the demo's output."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from api.demo import MARKER, reset_demo_dir
from api.demo.ports import choose_port
from exhibits.scan import Secret, scan
from ledger.errors import UsageError
from tests.chain_support import free_port

ROOT = Path(__file__).resolve().parents[2]

#: The small collection: the samples shown, and for each excluded one the reason codes it
#: must carry (each kind of terms denies for its own reason).
SHOWN = {"carved-bowl", "woven-mat", "woven-mat-enhanced"}
EXCLUDED = {
    "storage-box": {"access.not-public", "label.denies"},  # community only
    "shell-necklace": {"access.not-public", "label.denies"},  # TK Secret/Sacred, sealed
    "spinning-top": {"window.out-of-season"},  # seasonal, out of season
    "adze": {"window.embargoed"},
    "fish-hook": {"claim.revoked"},  # revoked after registration
}
#: Titles (en, mi, fr) of the excluded samples: none may reach the site.
EXCLUDED_TITLES = ["Storage box", "Pouaka", "Shell necklace", "Tāhei anga", "Spinning top",
                   "Pōtaka", "Herminette", "Fish hook", "Hameçon"]  # fmt: skip
_ROW = re.compile(r"^  (shown|excluded)\s+(\S+)\s+(.*?)(?: — (.*))?$")


def _ports() -> dict[str, int]:
    ports: dict[str, int] = {}
    while len(ports) < 4:
        port = free_port()
        if port not in ports.values():
            ports[("chain", "ipfs", "api", "exhibit")[len(ports)]] = port
    return ports


def _command(folder: Path, ports: dict[str, int], *extra: str) -> list[str]:
    args = [sys.executable, "-c", "from api.cli import main; main()", "demo", "--small",
            "--data-dir", str(folder)]  # fmt: skip
    for service, port in ports.items():
        args += [f"--{service}-port", str(port)]
    return args + list(extra)


def _env(tmp: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HERITAGE_")}
    return env | {"PYTHONPATH": str(ROOT), "HERITAGE_DATA_DIR": str(tmp / "unused"),
                  "COLUMNS": "200"}  # fmt: skip


def _close_stdin() -> None:
    os.close(0)


@dataclass(frozen=True)
class Run:
    folder: Path
    stdout: str
    stderr: str

    def rows(self) -> dict[str, tuple[bool, set[str]]]:
        found = {}
        for line in self.stdout.splitlines():
            match = _ROW.match(line)
            if match:
                state, name, _terms, why = match.groups()
                found[name] = (state == "shown", set((why or "").split(", ")) - {""})
        return found


@pytest.fixture(scope="module")
def first_run(tmp_path_factory: pytest.TempPathFactory) -> Run:
    """``heritage demo --no-serve`` in a new folder, stdin closed."""
    tmp = tmp_path_factory.mktemp("demo")
    folder = tmp / "demo"
    proc = subprocess.run(
        _command(folder, _ports(), "--no-serve"), env=_env(tmp), capture_output=True,
        text=True, preexec_fn=_close_stdin, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr, proc.stderr
    return Run(folder, proc.stdout, proc.stderr)


def test_the_table_shows_the_public_samples_and_excludes_the_rest_for_their_reasons(
    first_run: Run,
) -> None:
    rows = first_run.rows()
    assert set(rows) == SHOWN | set(EXCLUDED), first_run.stdout
    for name in SHOWN:
        assert rows[name] == (True, set()), name
    for name, reasons in EXCLUDED.items():
        shown, why = rows[name]
        assert not shown, name
        assert reasons <= why, (name, why)
    assert "the exhibit shows 3 of 8 items" in first_run.stdout


def test_the_site_holds_no_excluded_item(first_run: Run) -> None:
    site = first_run.folder / "site"
    assert f"site: {site}\n" in first_run.stdout
    assert (site / "index.html").is_file()
    report = json.loads((first_run.folder / "site.report.json").read_text("utf-8"))
    assert report["counts"] == {"selected": 8, "shown": 3, "excluded": 5}
    secrets = [Secret.text(f"title {i}", t) for i, t in enumerate(EXCLUDED_TITLES)]
    for item in report["items"]:
        if not item["shown"]:
            secrets += [Secret.cid(item["id"], item["cid"]),
                        Secret.key(item["id"], bytes.fromhex(item["id"][2:]))]  # fmt: skip
    assert len(secrets) == len(EXCLUDED_TITLES) + 10
    assert scan(site, secrets) == []
    # The scan finds what is there: the shown samples' titles (en, mi) are in the site.
    shown_titles = [Secret.text("shown", "Carved bowl"), Secret.text("shown mi", "Kumete whakairo")]
    assert {hit.label for hit in scan(site, shown_titles)} == {"shown", "shown mi"}


def test_the_chain_is_stopped_after_a_no_serve_run(first_run: Run) -> None:
    assert not (first_run.folder / "data" / "chain" / "anvil.pid").exists()
    assert "stopping the local chain" in first_run.stderr


@pytest.fixture
def occupied() -> Iterator[int]:
    """A port something else listens on."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield int(sock.getsockname()[1])


def test_a_second_run_resets_the_folder_serves_and_moves_off_a_taken_port(
    first_run: Run, occupied: int, tmp_path: Path
) -> None:
    (first_run.folder / "left-over.txt").write_text("from an earlier run")
    ports = _ports() | {"exhibit": occupied}
    with subprocess.Popen(
        _command(first_run.folder, ports), env=_env(tmp_path), stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True, preexec_fn=_close_stdin,
    ) as demo:  # fmt: skip
        assert demo.stdout is not None and demo.stderr is not None
        try:
            urls = {}
            for line in demo.stdout:  # the URLs come last, the node's at the very end
                name, _, url = line.partition(": ")
                if name in ("exhibit", "api", "ipfs"):
                    urls[name] = url.strip()
                if name == "ipfs":
                    break
            url = urls["exhibit"]
            match = re.fullmatch(r"http://127\.0\.0\.1:(\d+)/", url)
            assert match, urls
            port = int(match.group(1))
            assert port != occupied
            with urllib.request.urlopen(url) as answer:
                assert answer.status == 200
                assert answer.read() == (first_run.folder / "site" / "index.html").read_bytes()
            assert not (first_run.folder / "left-over.txt").exists()
            assert urls["ipfs"] == f"http://127.0.0.1:{ports['ipfs']}/"
            with urllib.request.urlopen(urls["ipfs"] + "api/v0/version", data=b"") as answer:
                assert answer.status == 200
            assert urls["api"] == f"http://127.0.0.1:{ports['api']}/"
            with urllib.request.urlopen(urls["api"] + "health") as answer:
                assert answer.status == 200
        finally:
            demo.send_signal(signal.SIGTERM)
        _, errors = demo.communicate()
    assert demo.returncode == 0, errors
    assert f"port {occupied} (exhibit) is taken: using {port} instead" in errors
    assert not (first_run.folder / "data" / "chain" / "anvil.pid").exists()


def test_a_taken_port_is_replaced_by_a_free_one(occupied: int) -> None:
    choice = choose_port("exhibit", occupied)
    assert choice.moved and choice.port != occupied
    assert choice.note() == f"port {occupied} (exhibit) is taken: using {choice.port} instead"
    free = free_port()
    kept = choose_port("exhibit", free)
    assert kept.port == free and kept.note() is None
    assert choose_port("api", free, avoid={free}).port != free  # given to another service


def test_a_folder_that_is_not_the_demos_is_left_alone(tmp_path: Path) -> None:
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "notes.txt").write_text("keep me")
    with pytest.raises(UsageError) as refused:
        reset_demo_dir(folder)
    assert "not a demo's data directory" in refused.value.message
    assert (folder / "notes.txt").read_text() == "keep me"
    reset_demo_dir(tmp_path / "new")
    assert (tmp_path / "new" / MARKER).is_file()
