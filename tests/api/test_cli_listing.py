"""``heritage item list`` and ``heritage community list`` run in process against a collection
registered on the real anvil and the embedded node (tests/ledger/listing_world.py): the JSON
shape docs/listing.md gives, tables with names beside ids, sealed and withdrawn items without
text, filters, search, pages, bad values (exit 2) and the chain down (exit 3)."""

from __future__ import annotations

import json
import re
import subprocess
from typing import Any

import pytest

from ledger.chain import deployment_path
from ledger.settings import Settings
from tests.chain_support import free_port
from tests.cli_runner import run_heritage
from tests.ledger.listing_world import SECRET_WORDS, TITLES, ListingWorld, make_listing_world
from tests.registry_support import chain_settings, module_chain

REUSED_FIXTURES = (chain_settings, module_chain)

#: The fields of one item of `heritage item list --json`, as docs/listing.md lists them.
ITEM_FIELDS = {
    "key", "kind", "cid", "community", "steward", "batch", "parent", "ai_enhanced", "disputed",
    "access",
    "status", "sealed", "labels", "license", "terms_cid", "terms_version", "title",
    "title_language", "titles", "file_name", "media_type", "size", "description_version",
    "withheld", "block", "log_index", "position", "registered_at",
}  # fmt: skip
COMMUNITY_FIELDS = {
    "id", "name", "keyholders", "threshold", "rotations", "document_cid", "claims", "stewards",
    "block", "created_at",
}  # fmt: skip


@pytest.fixture(scope="module")
def world(module_chain: Settings, tmp_path_factory: pytest.TempPathFactory) -> ListingWorld:
    return make_listing_world(module_chain, tmp_path_factory.mktemp("cli-listing-world"))


def heritage(world: ListingWorld, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    proc = run_heritage(
        args,
        env={
            "HERITAGE_DATA_DIR": str(world.settings.data_dir),
            "HERITAGE_RPC_URL": world.settings.rpc_url,
            "HERITAGE_DEPLOYMENT": str(deployment_path(world.settings)),
            "HERITAGE_FSYNC": "false",
        }
        | env,
    )
    assert "Traceback" not in proc.stderr, proc.stderr
    return proc


def listed(world: ListingWorld, *args: str) -> list[dict[str, Any]]:
    proc = heritage(world, "item", "list", *args, "--json")
    assert proc.returncode == 0, proc.stderr
    items: list[dict[str, Any]] = json.loads(proc.stdout)
    return items


def names(world: ListingWorld, items: list[dict[str, Any]]) -> list[str]:
    by_key = {"0x" + k.hex(): n for n, k in world.keys.items()}
    return [by_key[item["key"]] for item in items]


def test_json_is_an_array_of_the_documented_shape(world: ListingWorld) -> None:
    items = listed(world)
    assert len(items) == len(world.keys)
    for item in items:
        assert set(item) == ITEM_FIELDS
        assert set(item["community"]) == set(item["steward"]) == {"id", "name"}
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", item["registered_at"])
    by_name = dict(zip(names(world, items), items, strict=True))
    bowl = by_name["bowl"]
    assert bowl["titles"] == TITLES["bowl"] and bowl["file_name"] == "bowl.png"
    assert bowl["community"] == {"id": "0x" + world.reef.hex(), "name": world.reef_name}
    assert by_name["map"]["steward"] == {"id": "0x" + world.hill.hex(), "name": world.hill_name}
    sacred = by_name["sacred"]
    assert (sacred["withheld"], sacred["sealed"], sacred["title"], sacred["file_name"]) == (
        "sealed", True, None, None
    )  # fmt: skip
    assert by_name["cloak"]["status"] == "withdrawn"
    assert [n for n, i in by_name.items() if i["disputed"]] == ["stone", "stone-reef"]


def test_the_table_names_communities_and_shows_no_withheld_text(world: ListingWorld) -> None:
    proc = heritage(world, "item", "list")
    assert proc.returncode == 0, proc.stderr
    table = proc.stdout
    assert world.reef_name in table and world.hill_name in table
    assert "0x" + world.reef.hex() in table and "0x" + world.keys["kite"].hex() in table
    assert "'Carved steering paddle'" in table and "Plain paddle" not in table
    assert "sealed" in table and "(revoked)" in table and "(withdrawn)" in table
    assert f"items 1–{len(world.keys)} of {len(world.keys)}" in table
    for word in (*SECRET_WORDS, *TITLES["sacred"].values(), *TITLES["cloak"].values(),
                 "drum.png", "cloak.png"):  # fmt: skip
        assert word not in table


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (("--access", "community"), ["sacred", "cloak", "rite-a", "rite-b"]),
        (("--access", "RESTRICTED"), ["adze"]),
        (("--status", "revoked", "--status", "withdrawn"), ["drum", "cloak"]),
        (("--label", "tk:attribution"), ["bowl"]),
        (("--search", "KUMETE maori"), ["bowl"]),
        (("--search", "縄文"), ["bowl"]),
        (("--search", "χάρτης"), ["map"]),
        (("--search", "Whisperstone"), []),
        (("--search", "kumete", "--language", "ja"), ["bowl"]),
        (("--access", "public", "--limit", "2", "--offset", "1"), ["bowl", "map"]),
    ],
)  # fmt: skip
def test_filters(world: ListingWorld, args: tuple[str, ...], expected: list[str]) -> None:
    assert names(world, listed(world, *args)) == expected


def test_language_of_titles(world: ListingWorld) -> None:
    by_name = dict(zip(names(world, items := listed(world, "--language", "mi")), items,
                       strict=True))  # fmt: skip
    assert by_name["paddle"]["title"] == "Hoe whakairo"
    assert by_name["paddle"]["title_language"] == "mi"
    table = heritage(world, "item", "list", "--language", "mi", "--search", "paddle").stdout
    assert "'Hoe whakairo'" in table and "Carved steering paddle" not in table
    bad = heritage(world, "item", "list", "--language", "en_GB!")
    assert bad.returncode == 2 and "error[usage_error]" in bad.stderr


def test_community_by_name_or_id(world: ListingWorld) -> None:
    assert names(world, listed(world, "-c", world.hill_name)) == ["map", "stone"]
    by_id = listed(world, "--community", "0x" + world.hill.hex(), "-c", world.reef_name)
    assert len(by_id) == len(world.keys)
    for nobody in ("Nobody Here", "0x" + "02" * 32):
        unknown = heritage(world, "item", "list", "-c", nobody)
        assert unknown.returncode == 1 and "error[not_found]" in unknown.stderr
        assert unknown.stdout == ""


def test_empty_answers(world: ListingWorld) -> None:
    assert listed(world, "--search", "nothing-like-this") == []
    proc = heritage(world, "item", "list", "--search", "nothing-like-this")
    assert proc.returncode == 0 and proc.stdout == "no item matches\n"
    past = heritage(world, "item", "list", "--offset", "500")
    assert past.returncode == 0 and f"({len(world.keys)} match)" in past.stdout


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (("--access", "secret"), "--access 'secret'"),
        (("--status", "gone"), "--status 'gone'"),
        (("--label", "tk:nonsense"), "--label 'tk:nonsense'"),
        (("--limit", "0"), "--limit 0"),
        (("--offset", "-2"), "--offset -2"),
    ],
)
def test_bad_filter_values_exit_2_before_the_chain(
    world: ListingWorld, args: tuple[str, ...], named: str
) -> None:
    closed = f"http://127.0.0.1:{free_port()}"  # nothing listens there: not even tried
    for env in ({}, {"HERITAGE_RPC_URL": closed}):
        proc = heritage(world, "item", "list", *args, "--json", **env)
        assert proc.returncode == 2, proc.stderr
        assert "error[usage_error]" in proc.stderr and named in proc.stderr
        assert "hint" in proc.stderr and proc.stdout == ""


@pytest.mark.parametrize("command", [("item", "list"), ("community", "list")])
def test_chain_down_exits_3(world: ListingWorld, command: tuple[str, ...]) -> None:
    closed = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    proc = heritage(world, *command, "--json", HERITAGE_RPC_URL=closed)
    assert proc.returncode == 3 and "error[chain_unavailable]" in proc.stderr
    assert proc.stdout == ""


def test_community_list(world: ListingWorld) -> None:
    proc = heritage(world, "community", "list", "--json")
    assert proc.returncode == 0, proc.stderr
    found = {c["id"]: c for c in json.loads(proc.stdout)}
    reef, hill = found["0x" + world.reef.hex()], found["0x" + world.hill.hex()]
    for community in (reef, hill):
        assert set(community) == COMMUNITY_FIELDS
    assert (reef["name"], reef["claims"], reef["stewards"]) == (world.reef_name, 14, 13)
    assert (hill["name"], hill["claims"], hill["stewards"]) == (world.hill_name, 1, 2)
    table = heritage(world, "community", "list")
    assert table.returncode == 0
    for name, ident in ((world.reef_name, world.reef), (world.hill_name, world.hill)):
        line = next(line for line in table.stdout.splitlines() if "0x" + ident.hex() in line)
        assert name in line
    assert "1 of 2" in table.stdout


def test_help_names_every_option(world: ListingWorld) -> None:
    # (examples join every command's --help from one table of the CLI, not from here)
    proc = heritage(world, "item", "list", "--help")
    assert proc.returncode == 0 and "docs/listing.md" in proc.stdout
    for option in ("--community", "--access", "--status", "--label", "--search", "--language",
                   "--limit", "--offset", "--json"):  # fmt: skip
        assert option in proc.stdout
