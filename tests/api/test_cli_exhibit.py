"""``heritage exhibit build|serve`` in process (tests/cli_runner.py), against the session's anvil
and the embedded node: exit 0 built (table, --json), 1 on a leak-scan hit, 2 for a bad --at,
3 when no chain answers, 4 for an invalid spec; and ``heritage exhibit serve`` as a real
process serving a built site over HTTP."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from exhibits.model import ChainRef, Exhibited, RoomPlan
from exhibits.site.render import site_files
from exhibits.spec import ExhibitSpec
from ledger.chain import deployment_path
from ledger.errors import ExitCode
from ledger.settings import Settings
from tests.chain_support import free_port
from tests.cli_runner import run_heritage
from tests.exhibits.build_support import World, make_world, spec_text
from tests.registry_support import chain_settings, module_chain

REUSED_FIXTURES = (chain_settings, module_chain)


@pytest.fixture(scope="module")
def world(module_chain: Settings, tmp_path_factory: pytest.TempPathFactory) -> World:
    return make_world(module_chain, tmp_path_factory.mktemp("cli-exhibit"))


def env(world: World, **changes: str) -> dict[str, str]:
    return {
        "HERITAGE_DATA_DIR": str(world.settings.data_dir),
        "HERITAGE_RPC_URL": world.settings.rpc_url,
        "HERITAGE_DEPLOYMENT": str(deployment_path(world.settings)),
        "HERITAGE_FSYNC": "false",
    } | changes


def write_spec(folder: Path, text: str) -> Path:
    path = folder / "reef.toml"
    path.write_text(text, "utf-8")
    return path


def test_build_prints_the_counts_and_writes_the_site_and_the_report(
    world: World, tmp_path: Path
) -> None:
    spec = write_spec(tmp_path, spec_text(world))
    site = tmp_path / "site"
    proc = run_heritage(["exhibit", "build", str(spec), "-o", str(site), "--json"], env=env(world))
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout)
    assert summary["counts"] == {"selected": 10, "shown": 6, "excluded": 4}
    names = ("anchor", "bowl", "net", "paddle", "anchor-restored", "kite-expiring")
    assert sorted(summary["shown"]) == sorted(world.id(n) for n in names)
    # by title (the file name stands in): "anchor-restored.png" < "anchor.png" ("-" < ".")
    assert summary["shown"][:2] == [world.id("anchor-restored"), world.id("anchor")]
    assert {e["id"]: e["reasons"] for e in summary["excluded"]}[world.id("drum-revoked")] == [
        "claim.revoked"
    ]
    assert summary["report"] == str(tmp_path / "site.report.json")
    assert (site / "items" / world.id("anchor") / "files" / "image.jpg").is_file()
    report = json.loads((tmp_path / "site.report.json").read_text())
    assert report["counts"] == summary["counts"]

    again = run_heritage(["exhibit", "build", str(spec), "-o", str(site)], env=env(world))
    assert again.returncode == 0, again.stderr
    assert "shown" in again.stdout and "excluded by claim.revoked: 1" in again.stdout
    assert "excluded by content.disputed: 1" in again.stdout
    assert "report (private)" in again.stdout


def test_a_leak_scan_hit_exits_1_and_names_no_secret(
    world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = world.cids["sacred-sea"]

    real = site_files

    def leaky(
        spec: ExhibitSpec, rooms: Sequence[RoomPlan], items: Sequence[Exhibited],
        chain: ChainRef, *, built_at: datetime, **kwargs: Any,
    ) -> dict[str, bytes]:  # fmt: skip
        files = real(spec, rooms, items, chain, built_at=built_at, **kwargs)
        files["sitemap.xml"] = f"<url>{secret}</url>".encode()
        return files

    # What the renderer writes (render_site writes site_files; so does a synced rebuild).
    monkeypatch.setattr("exhibits.site.render.site_files", leaky)
    spec = write_spec(tmp_path, spec_text(world))
    proc = run_heritage(["exhibit", "build", str(spec), "-o", str(tmp_path / "site")],
                        env=env(world))  # fmt: skip
    assert proc.returncode == ExitCode.FAILURE
    assert proc.stderr.startswith("error[leak_found]:"), proc.stderr
    assert "sitemap.xml" in proc.stderr and secret not in proc.stderr + proc.stdout
    assert not (tmp_path / "site").exists()


def test_an_invalid_spec_exits_4_naming_the_field(world: World, tmp_path: Path) -> None:
    spec = write_spec(tmp_path, 'title = "T"\nlanguages = ["en"]\n[select]\ncommunities = []\n')
    proc = run_heritage(["exhibit", "build", str(spec), "-o", str(tmp_path / "site")],
                        env=env(world))  # fmt: skip
    assert proc.returncode == 4, proc.stderr
    assert proc.stderr.startswith("error[invalid_exhibit_spec]:")
    assert "/select/communities" in proc.stderr
    assert not (tmp_path / "site").exists()


def test_no_chain_exits_3(world: World, tmp_path: Path) -> None:
    spec = write_spec(tmp_path, spec_text(world))
    closed = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    proc = run_heritage(
        ["exhibit", "build", str(spec), "-o", str(tmp_path / "site")],
        env=env(world, HERITAGE_RPC_URL=closed, HERITAGE_DATA_DIR=str(tmp_path / "data")),
    )
    assert "Traceback" not in proc.stderr, proc.stderr
    assert proc.returncode == 3, proc.stderr
    assert proc.stderr.startswith(f"error[chain_unavailable]: no chain answers at {closed}")
    assert not (tmp_path / "site").exists()


@pytest.mark.parametrize("at", ["yesterday", "2026-01-01T00:00:00"])
def test_a_bad_at_is_a_usage_error(world: World, tmp_path: Path, at: str) -> None:
    spec = write_spec(tmp_path, spec_text(world))
    proc = run_heritage(["exhibit", "build", str(spec), "-o", str(tmp_path / "s"), "--at", at],
                        env=env(world))  # fmt: skip
    assert proc.returncode == ExitCode.USAGE, proc.stderr
    assert proc.stderr.startswith("error[usage_error]: --at")


def test_a_past_at_builds_the_exhibit_as_it_stood(world: World, tmp_path: Path) -> None:
    spec = write_spec(tmp_path, spec_text(world))
    proc = run_heritage(["exhibit", "build", str(spec), "-o", str(tmp_path / "site"), "--at",
                         "2001-01-01T00:00:00Z", "--json"], env=env(world))  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout)
    assert summary["at"] == summary["built_at"] == "2001-01-01T00:00:00Z"
    assert summary["counts"] == {"selected": 0, "shown": 0, "excluded": 0}


def test_help_shows_examples_and_exit_statuses() -> None:
    proc = run_heritage(["exhibit", "build", "--help"])
    assert proc.returncode == 0
    assert "heritage exhibit build reef.toml -o site/" in proc.stdout
    assert "4 invalid spec" in proc.stdout
    listed = run_heritage(["exhibit", "--help"])
    assert "build" in listed.stdout and "serve" in listed.stdout


def test_serve_serves_a_built_site_on_localhost(world: World, tmp_path: Path) -> None:
    spec = write_spec(tmp_path, spec_text(world))
    site = tmp_path / "site"
    built = run_heritage(["exhibit", "build", str(spec), "-o", str(site), "-q"], env=env(world))
    assert built.returncode == 0, built.stderr
    port = free_port()
    heritage = Path(sys.executable).with_name("heritage")
    with subprocess.Popen(
        [str(heritage), "exhibit", "serve", str(site), "--port", str(port)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    ) as server:  # fmt: skip
        try:
            assert server.stdout is not None
            line = server.stdout.readline()  # printed once the socket is bound
            assert f"http://127.0.0.1:{port}/" in line, line
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/") as answer:
                assert answer.status == 200
                assert answer.read() == (site / "index.html").read_bytes()
            with pytest.raises(urllib.error.HTTPError) as missing:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/items/0x00/")
            assert missing.value.code == 404
        finally:
            server.terminate()
