"""Nothing of an excluded item reaches the site, end to end: ``heritage exhibit build`` through
the CLI (tests/cli_runner.py) on the session's anvil and the embedded IPFS node, with the real
gather, fetch, derivers, renderer, vendored assets and scan.

The collection is registered for real: two public images and a 3D model whose masters carry
master-only canaries in their EXIF, XMP and PNG text, glTF extras and node names (they are
shown; their metadata must not be), and
excluded items each with a unique canary in its file name, its description (title, alt text,
description, context, creator, date, subjects, place, bound into the registration) and its
master's metadata: TK Secret/Sacred and community-only (both sealed when registered),
embargoed, expired, and revoked. Every byte of the built site (and of any gzip/zip member) is
then read with the leak scan's forms and with an independent search (tests/exhibits/
leak_support.py), and the item ids the site refers to are exactly the three shown.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from pathlib import Path

import pytest

from exhibits.scan import Secret, scan
from ledger.chain import deployment_path
from ledger.crypto import KEM_X25519
from ledger.keys import new_key
from ledger.registry import Registry, SignerKeys
from ledger.rights.description import description_from_json
from ledger.settings import Settings
from local_chain import anvil_dev_account
from tests.cli_runner import run_heritage
from tests.exhibits.leak_support import (
    canaried_glb,
    canaried_image,
    ids_in,
    json_ids,
    site_blobs,
    token_forms,
)
from tests.registry_support import PASSPHRASE, chain_settings, module_chain, settings_on
from tests.rights_support import public_terms, restricted_terms, write_terms

REUSED_FIXTURES = (chain_settings, module_chain)

#: Shown items (two images and a 3D model), and the excluded, named by the terms they are
#: registered under (built in ``registered``); excluded masters are images and models too.
SHOWN = ("kete-one", "kete-two", "waka-model")
EXCLUDED = ("sacred", "community", "embargoed", "expired", "revoked")


@dataclass(frozen=True, slots=True)
class Registered:
    settings: Settings
    reef_name: str
    reef: bytes
    keys: dict[str, bytes]  # name → claim key
    cids: dict[str, str]
    tokens: dict[str, str]  # name → its canary (in texts and metadata when excluded)
    master_tokens: tuple[str, ...]  # every canary inside a master's metadata
    folder: Path


def _description(token: str) -> dict[str, object]:
    return {
        "type": "heritage/description",
        "version": 1,
        "title": {"en": f"Ngā “{token}” <b>{token}</b>"},
        "alt_text": {"en": f"Alt {token}"},
        "description": {"en": f"Not for display: {token}."},
        "context": {"en": f"Context {token}"},
        "creator": f"Creator {token}",
        "date": f"1897 {token}",
        "subjects": [f"Subject {token}"],
        "place": {"name": f"Place {token}", "lat": -36.8485, "lon": 174.7633},
    }


@pytest.fixture(scope="module")
def registered(module_chain: Settings, tmp_path_factory: pytest.TempPathFactory) -> Registered:
    folder = tmp_path_factory.mktemp("leak-cli")
    settings = settings_on(module_chain, folder / "data")
    rng = random.Random(2026)
    files = folder / "files"
    files.mkdir()
    tokens: dict[str, str] = {}
    master_tokens: list[str] = []
    paths: dict[str, Path] = {}
    for name in (*SHOWN, *EXCLUDED):
        token = f"cnry{name[:4]}x{rng.getrandbits(64):016x}"
        tokens[name] = token
        shown = name in SHOWN
        meta = f"meta{name[:4]}x{rng.getrandbits(64):016x}" if shown else token
        master_tokens.append(meta)
        fmt = ("PNG", "JPEG", "GLB")[len(paths) % 3]
        file_name = f"{name}.{fmt.lower()}" if shown else f"{token}.{fmt.lower()}"
        paths[name] = files / file_name
        master = canaried_glb(meta, rng) if fmt == "GLB" else canaried_image(meta, rng, fmt)
        paths[name].write_bytes(master)
    keys: dict[str, bytes] = {}
    cids: dict[str, str] = {}
    with Registry(settings, sender=anvil_dev_account()) as reg:
        holders = [
            new_key(settings, PASSPHRASE, unsafe_light_kdf=True, encryption=KEM_X25519).address
            for _ in range(2)
        ]
        signer = SignerKeys(settings, lambda _address: PASSPHRASE)
        reef_name = f"Reef-{folder.name}"
        reg.communities.create(reef_name, holders, 1, signer)
        reef = reg.reader.resolve_community(reef_name)
        terms = {
            "public": public_terms(reef),
            "sacred": public_terms(
                reef,
                license=None,
                rights_statement="http://rightsstatements.org/vocab/InC/1.0/",
                labels=["tk:secret-sacred"],
                access=[{"protocol": "community"}],
                location={"precision": "hidden"},
            ),
            "community": restricted_terms(reef),
            "embargoed": public_terms(
                reef, display={"time_zone": "UTC", "embargo_until": "2100-01-01T00:00:00Z"}
            ),
            "expired": public_terms(
                reef, display={"time_zone": "UTC", "expires": "2020-01-01T00:00:00Z"}
            ),
        }
        terms["revoked"] = terms["public"]
        for name, path in paths.items():
            kind = "public" if name in SHOWN else name
            document = write_terms(folder / f"{name}.terms.json", terms[kind])
            described = None
            if name not in SHOWN:
                described = description_from_json(_description(tokens[name]))
            (result,) = reg.items.register([path], reef, document, signer,
                                           descriptions=[described])  # fmt: skip
            keys[name], cids[name] = result.key, str(result.cid)
        reg.terms.revoke(cids["revoked"], signer, reef)
    return Registered(settings, reef_name, reef, keys, cids, tokens, tuple(master_tokens), folder)


def test_a_cli_build_holds_nothing_of_the_excluded_items(
    registered: Registered, tmp_path: Path
) -> None:
    spec = tmp_path / "reef.toml"
    spec.write_text(
        'title = "Voices of the Reef"\nlanguages = ["en"]\nbase_url = "https://example.org/r/"\n'
        f"[select]\ncommunities = [{json.dumps(registered.reef_name)}]\n",
        "utf-8",
    )
    site = tmp_path / "site"
    env = {
        "HERITAGE_DATA_DIR": str(registered.settings.data_dir),
        "HERITAGE_RPC_URL": registered.settings.rpc_url,
        "HERITAGE_DEPLOYMENT": str(deployment_path(registered.settings)),
        "HERITAGE_FSYNC": "false",
    }
    proc = run_heritage(["exhibit", "build", str(spec), "-o", str(site), "--json"], env=env)
    assert proc.returncode == 0, proc.stderr
    shown = {"0x" + registered.keys[n].hex() for n in SHOWN}
    summary = json.loads(proc.stdout)
    assert set(summary["shown"]) == shown
    excluded_ids = {"0x" + registered.keys[n].hex() for n in EXCLUDED}
    why = {e["id"]: set(e["reasons"]) for e in summary["excluded"]}
    assert set(why) == excluded_ids
    by_name = {n: why["0x" + registered.keys[n].hex()] for n in EXCLUDED}
    assert "access.not-public" in by_name["sacred"] and "access.not-public" in by_name["community"]
    assert by_name["embargoed"] == {"window.embargoed"}
    assert by_name["expired"] == {"window.expired"}
    assert by_name["revoked"] == {"claim.revoked"}
    # The build used what the test registered: the private report beside the site names them.
    report = json.loads((tmp_path / "site.report.json").read_text())
    assert {i["id"] for i in report["items"]} == shown | excluded_ids
    for token in (registered.tokens[n] for n in EXCLUDED):
        assert token not in proc.stdout + proc.stderr  # the console says ids, never texts

    # The leak scan's forms of every excluded CID, key, file name, canary and every
    # master-only canary: nothing, anywhere (the real vendored assets included).
    secrets: list[Secret] = []
    for name in EXCLUDED:
        secrets += [
            Secret.cid(name, registered.cids[name]),
            Secret.key(name, registered.keys[name]),
            Secret.text(name, registered.tokens[name]),
        ]
    secrets += [Secret.text("master metadata", t) for t in registered.master_tokens]
    assert scan(site, secrets) == []

    # The independent search of every byte and every compressed member.
    needles: list[tuple[str, bytes, bool]] = []
    for token in {*registered.master_tokens, *(registered.tokens[n] for n in EXCLUDED)}:
        needles += [(f"{token} {k}", f, k == "utf-8") for k, f in token_forms(token).items()]
    for name in EXCLUDED:
        needles += [
            (f"key of {name}", registered.keys[name].hex().encode(), True),
            (f"raw key of {name}", registered.keys[name], False),
            (f"CID of {name}", registered.cids[name].encode(), True),
        ]
    blobs = dict(site_blobs(site))
    assert "assets/vendor/model-viewer/model-viewer.min.js" in blobs  # the real assets
    for path, blob in blobs.items():
        folded = blob.lower()
        for what, needle, fold in needles:
            assert needle not in (folded if fold else blob), f"{what} in {path}"

    # The ids the site refers to: the shown items, in every place that lists items.
    assert {p.name for p in (site / "items").iterdir()} == shown
    assert {e["id"] for e in json.loads(blobs["search.json"])["items"]} == shown
    assert json_ids(json.loads(blobs["gallery.json"])) == shown
    assert set(json.loads(blobs["proofs.json"])["items"]) == shown
    images = {"0x" + registered.keys[n].hex() for n in ("kete-one", "kete-two")}
    assert json_ids(json.loads(blobs["iiif/collection.json"])) == images
    model = "0x" + registered.keys["waka-model"].hex()
    assert f"items/{model}/files/model.glb" in blobs  # the model was derived and shown
    assert ids_in(blobs["sitemap.xml"]) == shown
    assert ids_in(blobs["index.html"]) == shown
    transactions = {
        t for t in json_ids(json.loads(blobs["proofs.json"])) if t not in shown
    }  # the registering transactions and the community id: not item ids
    everywhere = set().union(*(ids_in(b) for p, b in blobs.items() if not p.startswith("assets/")))
    assert everywhere - transactions == shown
    assert "0x" + registered.reef.hex() in transactions
