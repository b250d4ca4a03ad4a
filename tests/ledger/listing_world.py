"""A registered collection for the listing tests, on a module's anvil and the embedded node:
two communities (Reef and Hill), items described in several languages, public ones (CC BY,
TK Attribution), a sealed TK Secret/Sacred one, a sealed one for a restricted group, an
embargoed one, one revoked, one whose terms
were changed to community-only (withdrawn), two items of a batch, a derivative, a corrected
description, and an item transferred from Reef to Hill. Every title is written here, so the
tests know each answer without reading the listing's own output."""

from __future__ import annotations

import io
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import Image

from ledger.crypto import KEM_X25519
from ledger.keys import new_key
from ledger.registry import Registry, SignerKeys
from ledger.rights.description import Description, description_from_json
from ledger.settings import Settings
from local_chain import anvil_dev_account
from tests.exhibits.build_support import sacred_terms
from tests.registry_support import PASSPHRASE, settings_on
from tests.rights_support import public_terms, write_terms

__all__ = ["SECRET_WORDS", "TITLES", "ListingWorld", "make_listing_world"]

#: Each item's title(s) as registered (or as corrected: ``paddle``), by name.
TITLES: dict[str, dict[str, str]] = {
    "paddle": {"en": "Carved steering paddle", "mi": "Hoe whakairo"},
    "bowl": {"en": "Feast bowl", "mi": "Kumete Māori", "ja": "縄文の鉢"},
    "map": {"de": "Alte Straßenkarte", "el": "Παλιός χάρτης"},
    "sacred": {"en": "Whisperstone chant", "mi": "Karakia huna"},
    "adze": {"en": "Ironwood adze"},
    "tide": {"en": "Tide calendar"},
    "drum": {"en": "Thunderdrum skin"},
    "cloak": {"en": "Featherlight cloak"},
    "net": {"en": "Fishing net"},
    "kite": {"en": "Bird kite"},
    "restored": {"en": "Paddle, restored"},
    "stone": {"en": "Standing stone"},
    "stone-reef": {"en": "Standing stone", "mi": "Pou kōhatu"},
    "rite-a": {"en": "Moonwater rite"},
    "rite-b": {"en": "Moonwater song"},
}
#: The paddle's title before its correction (version 1): never listed once corrected.
FIRST_PADDLE_TITLE = "Plain paddle"
#: Words only the withheld items' texts (and file names) hold: a search must never find them.
SECRET_WORDS = ("Whisperstone", "huna", "Thunderdrum", "Featherlight", "sacred-whisper",
                "Moonwater", "rite-a", "rite-b", "Ironwood", "adze")  # fmt: skip


def _description(name: str, title: dict[str, str], **extra: Any) -> Description:
    return description_from_json(
        {"type": "heritage/description", "version": 1, "title": title, **extra},
        where=name,
    )


def _image(path: Path, seed: int) -> Path:
    rng = random.Random(seed)
    size = (32 + seed % 7, 24 + seed % 5)
    image = Image.frombytes("RGB", size, rng.randbytes(size[0] * size[1] * 3))
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    path.write_bytes(buffer.getvalue())
    return path


@dataclass(frozen=True, slots=True)
class ListingWorld:
    """The collection: its data directory's settings, the communities' names and ids, and each
    item's claim key and CID by name."""

    settings: Settings
    reef_name: str
    hill_name: str
    reef: bytes
    hill: bytes
    keys: dict[str, bytes]
    cids: dict[str, str]
    files: dict[str, str]  # file names
    #: The metadata blocks of ``drum`` and ``cloak`` as registered (public, with their titles),
    #: which their revocation and withdrawal unpinned and collected here.
    withdrawn_metadata: tuple[bytes, ...] = ()


def make_listing_world(chain: Settings, folder: Path) -> ListingWorld:
    """Register the collection on ``chain`` (a module's chain, undone when the module ends)."""
    settings = settings_on(chain, folder / "data")
    files = folder / "files"
    files.mkdir(parents=True)
    found: dict[str, tuple[bytes, str]] = {}
    metadata: dict[str, bytes] = {}
    names: dict[str, str] = {}

    def image(name: str, file_name: str, seed: int) -> Path:
        names[name] = file_name
        return _image(files / file_name, seed)

    with Registry(settings, sender=anvil_dev_account()) as reg:
        keys = SignerKeys(settings, lambda _address: PASSPHRASE)
        holders = [
            new_key(settings, PASSPHRASE, unsafe_light_kdf=True, encryption=KEM_X25519).address
            for _ in range(2)
        ]
        reef_name, hill_name = f"Reef {folder.name}", f"Hill {folder.name}"
        reg.communities.create(reef_name, holders, 1, keys)
        hill_holder = new_key(
            settings, PASSPHRASE, unsafe_light_kdf=True, encryption=KEM_X25519
        ).address
        reg.communities.create(hill_name, [hill_holder], 1, keys)
        reef = reg.reader.resolve_community(reef_name)
        hill = reg.reader.resolve_community(hill_name)
        public = write_terms(folder / "public.json", public_terms(reef, labels=None))
        attributed = write_terms(
            folder / "attributed.json",
            public_terms(reef, labels=["tk:attribution", "tk:community-voice"]),
        )
        hill_public = write_terms(folder / "hill.json", public_terms(hill, labels=None))
        sacred = write_terms(folder / "sacred.json", sacred_terms(reef))
        carvers = {"protocol": "restricted", "groups": [{"kind": "role", "name": "carvers"}]}
        restricted = write_terms(
            folder / "restricted.json",
            public_terms(reef, license=None, labels=["tk:men-restricted"],
                         access=[{"protocol": "community"}, carvers]),
        )  # fmt: skip
        window = {"time_zone": "UTC", "embargo_until": "2100-01-01T00:00:00Z"}
        embargoed = write_terms(
            folder / "embargoed.json", public_terms(reef, labels=None, display=window)
        )
        community_only = write_terms(
            folder / "community.json",
            public_terms(reef, labels=None, license=None, access=[{"protocol": "community"}]),
        )

        def register(name: str, file_name: str, seed: int, terms: Path, title: str | None = None,
                     community: bytes = reef, **extra: Any) -> None:  # fmt: skip
            described = _description(name, {"en": title} if title else TITLES[name], **extra)
            (result,) = reg.items.register(
                [image(name, file_name, seed)], community, terms, keys, descriptions=[described]
            )
            found[name] = (result.key, str(result.cid))
            metadata[name] = reg.node.block_get(result.metadata_cid)

        register("paddle", "paddle.png", 1, public, FIRST_PADDLE_TITLE)
        register("bowl", "bowl.png", 2, attributed, subjects=["food", "ceremony"])
        register("map", "map.png", 3, public)
        register("sacred", "sacred-whisper.png", 4, sacred)
        register("adze", "adze.png", 14, restricted)
        register("tide", "tide.png", 5, embargoed)
        register("drum", "drum.png", 6, public)
        register("cloak", "cloak.png", 7, public)
        register("stone", "stone.png", 8, hill_public, community=hill)
        # the same bytes claimed by a second community: a claim of its own
        register("stone-reef", "stone.png", 8, public)
        batch = [image("net", "net.png", 9), image("kite", "kite.png", 10)]
        described = [_description(n, TITLES[n]) for n in ("net", "kite")]
        for name, registered in zip(
            ("net", "kite"),
            reg.items.register_batch(batch, reef, public, keys, descriptions=described).items,
            strict=True,
        ):
            found[name] = (registered.key, str(registered.cid))
        rites = [image("rite-a", "rite-a.png", 12), image("rite-b", "rite-b.png", 13)]
        described = [_description(n, TITLES[n]) for n in ("rite-a", "rite-b")]
        sealed_batch = reg.items.register_batch(rites, reef, sacred, keys, descriptions=described)
        for name, registered in zip(("rite-a", "rite-b"), sealed_batch.items, strict=True):
            found[name] = (registered.key, str(registered.cid))
        method = folder / "method.json"
        method.write_text('{"method": "restoration"}')
        restored = image("restored", "restored.png", 11)
        derivative = reg.derivatives.add(found["paddle"][1], restored, reef, public, method, keys)
        found["restored"] = (derivative.key, derivative.cid)
        # a derivative is registered without a description: it gets one as a correction
        restored_title = _description("restored", TITLES["restored"])
        reg.descriptions.describe("0x" + derivative.key.hex(), restored_title, keys, reef)
        # A corrected description, a revocation, terms no longer public, a transfer.
        reg.descriptions.describe(found["paddle"][1], _description("paddle", TITLES["paddle"]),
                                  keys, reef)  # fmt: skip
        reg.terms.revoke(found["drum"][1], keys, reef)
        reg.terms.set(found["cloak"][1], community_only, keys, reef)
        reg.custody.transfer(found["map"][1], hill, keys, community=reef)
    return ListingWorld(
        settings=settings,
        reef_name=reef_name,
        hill_name=hill_name,
        reef=reef,
        hill=hill,
        keys={n: k for n, (k, _) in found.items()},
        cids={n: c for n, (_, c) in found.items()},
        files=names,
        withdrawn_metadata=(metadata["drum"], metadata["cloak"]),
    )
