"""A registered collection for exhibit build tests, on the session's anvil and the embedded
node: public CC BY images (alone, in a batch, and a derivative), a TK Secret/Sacred one
(sealed), an embargoed one, a revoked one, content claimed by two communities; and a stand-in
for the site renderer (which another part of the project writes) that writes only what it is
given, as the real one must."""

from __future__ import annotations

import io
import json
import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from PIL import Image
from web3 import Web3

from exhibits.model import ChainRef, Exhibited, RoomPlan
from exhibits.spec import ExhibitSpec
from ledger.chain import connect
from ledger.crypto import KEM_X25519
from ledger.keys import new_key
from ledger.registry import Registry, SignerKeys
from ledger.settings import Settings
from local_chain import anvil_dev_account
from tests.registry_support import PASSPHRASE, settings_on
from tests.rights_support import public_terms, write_terms

__all__ = ["World", "make_world", "render_standin", "sacred_terms", "spec_text"]


def sacred_terms(community: bytes) -> dict[str, object]:
    """TK Secret/Sacred, for the community only: sealed when registered, never shown."""
    return public_terms(
        community,
        license=None,
        rights_statement="http://rightsstatements.org/vocab/InC/1.0/",
        labels=["tk:secret-sacred"],
        access=[{"protocol": "community"}],
        location={"precision": "hidden"},
    )


def _image(path: Path, seed: int) -> Path:
    rng = random.Random(seed)
    size = (64 + seed % 7, 48 + seed % 5)
    image = Image.frombytes("RGB", size, rng.randbytes(size[0] * size[1] * 3))
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    path.write_bytes(buffer.getvalue())
    return path


@dataclass(frozen=True, slots=True)
class World:
    """The collection: its data directory's settings, the two communities, and each file's
    claim key and CID by name (``shared-shell`` is Reef's claim, ``shared_hill`` Hill's;
    ``net`` and ``paddle`` are items of one batch; ``anchor-restored`` is a derivative of
    ``anchor``; ``kite-expiring`` may be shown until 2030)."""

    settings: Settings
    reef_name: str
    reef: bytes
    hill: bytes
    keys: dict[str, bytes]
    cids: dict[str, str]
    folder: Path

    def signer_keys(self) -> SignerKeys:
        return SignerKeys(self.settings, lambda _address: PASSPHRASE)

    def w3(self) -> Web3:
        return connect(self.settings.rpc_url)

    def id(self, name: str) -> str:
        return "0x" + self.keys[name].hex()


def make_world(chain: Settings, folder: Path) -> World:
    """Register the collection on ``chain`` (a module's chain: undone when the module ends)."""
    settings = settings_on(chain, folder / "data")
    files = folder / "files"
    files.mkdir(parents=True)
    with Registry(settings, sender=anvil_dev_account()) as reg:
        holders = [
            new_key(settings, PASSPHRASE, unsafe_light_kdf=True, encryption=KEM_X25519).address
            for _ in range(2)
        ]
        keys = SignerKeys(settings, lambda _address: PASSPHRASE)
        reef_name = f"Reef-{folder.name}"
        reg.communities.create(reef_name, holders, 1, keys)
        hill_holder = new_key(settings, PASSPHRASE, unsafe_light_kdf=True).address
        reg.communities.create(f"Hill-{folder.name}", [hill_holder], 1, keys)
        reef = reg.reader.resolve_community(reef_name)
        hill = reg.reader.resolve_community(f"Hill-{folder.name}")
        public = write_terms(folder / "public.json", public_terms(reef))
        hill_public = write_terms(folder / "hill.json", public_terms(hill))
        sacred = write_terms(folder / "sacred.json", sacred_terms(reef))
        window = {"time_zone": "UTC", "embargo_until": "2100-01-01T00:00:00Z"}
        embargoed = write_terms(folder / "embargoed.json", public_terms(reef, display=window))
        names = ["anchor", "bowl", "drum-revoked", "shared-shell"]
        paths = {n: _image(files / f"{n}.png", i + 1) for i, n in enumerate(names)}
        paths["sacred-sea"] = _image(files / "sacred-sea.png", 40)
        paths["tide-embargoed"] = _image(files / "tide-embargoed.png", 50)
        found: dict[str, tuple[bytes, str]] = {}
        for name, result in zip(
            names, reg.items.register([paths[n] for n in names], reef, public, keys), strict=True
        ):
            found[name] = (result.key, str(result.cid))
        (sealed,) = reg.items.register([paths["sacred-sea"]], reef, sacred, keys)
        found["sacred-sea"] = (sealed.key, str(sealed.cid))
        (late,) = reg.items.register([paths["tide-embargoed"]], reef, embargoed, keys)
        found["tide-embargoed"] = (late.key, str(late.cid))
        closing = {"time_zone": "UTC", "expires": "2030-01-01T00:00:00Z"}
        expiring = write_terms(folder / "expiring.json", public_terms(reef, display=closing))
        paths["kite-expiring"] = _image(files / "kite-expiring.png", 80)
        (kite,) = reg.items.register([paths["kite-expiring"]], reef, expiring, keys)
        found["kite-expiring"] = (kite.key, str(kite.cid))
        (rival,) = reg.items.register([paths["shared-shell"]], hill, hill_public, keys)
        found["shared_hill"] = (rival.key, str(rival.cid))
        batch = [_image(files / f"{n}.png", 60 + i) for i, n in enumerate(("net", "paddle"))]
        for registered in reg.items.register_batch(batch, reef, public, keys).items:
            found[Path(registered.path).stem] = (registered.key, str(registered.cid))
        method = folder / "method.json"
        method.write_text('{"method": "restoration"}')
        restored = _image(files / "anchor-restored.png", 70)
        derivative = reg.derivatives.add(found["anchor"][1], restored, reef, public, method, keys)
        found["anchor-restored"] = (derivative.key, derivative.cid)
        # A revocation a while after the registrations, so that a moment between them exists.
        reg.session.w3.provider.make_request("evm_increaseTime", [120])  # type: ignore[arg-type]
        reg.terms.revoke(found["drum-revoked"][1], keys, reef)
    return World(
        settings=settings,
        reef_name=reef_name,
        reef=reef,
        hill=hill,
        keys={n: k for n, (k, _) in found.items()},
        cids={n: c for n, (_, c) in found.items()},
        folder=folder,
    )


def spec_text(world: World, extra_select: str = "", *, both: bool = False) -> str:
    communities = [world.reef_name] + (["0x" + world.hill.hex()] if both else [])
    return (
        'title = "Voices of the Reef"\nlanguages = ["en"]\n[select]\n'
        f"communities = {json.dumps(communities)}\n{extra_select}\n"
    )


def render_standin(
    spec: ExhibitSpec,
    rooms: Sequence[RoomPlan],
    items: Sequence[Exhibited],
    chain: ChainRef,
    out: Path,
    *,
    built_at: datetime,
) -> None:
    """Writes what the site renderer is given, and nothing else: an index naming each shown
    item, and each item's derived files under items/<id>/files/."""
    lines = [dict(spec.title)[spec.default_language], built_at.isoformat(), str(chain.chain_id)]
    for room in rooms:
        lines.append("room: " + " ".join(room.items))
    for item in items:
        lines.append(f"{item.item_id} {item.candidate.cid} {item.candidate.file_name}")
        folder = out / "items" / item.item_id / "files"
        folder.mkdir(parents=True)
        for derived in item.files.files:
            (folder / derived.name).write_bytes(derived.data)
    (out / "index.html").write_text("\n".join(lines) + "\n", "utf-8")
