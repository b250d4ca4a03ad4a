"""A registered collection for the web pages' tests, on a module's chain and the embedded node.

Known answers come from how it is made here, never from the pages:

- community Reef, whose *name* is hostile text (two keyholders, threshold 1, X25519 keys so
  that Secret/Sacred items are sealed), and community Hill (one keyholder);
- public (CC BY 4.0, TK Attribution): ``anchor`` ("Anchor stone", subject "navigation"), one
  item per string of the exhibit tests' XSS corpus (title, description, subject and creator
  that string), ``net-1`` … ``net-4`` (for a second catalogue page) and ``legacy`` ("Legacy
  paddle"), registered with Kubo's CIDv0 default (dag-pb leaves);
- public at Hill (CC0 1.0, TK Outreach): ``basket`` ("Hill basket", subject "weaving");
- never public: ``sacred`` (TK Secret/Sacred, sealed), ``tide`` (embargoed until 2100),
  ``drum`` (revoked after registration), ``kept`` (community use only). Each has a title,
  subject and file name found nowhere else (:data:`HIDDEN_WORDS`).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from ledger.crypto import KEM_X25519
from ledger.documents import DEFAULT_IMPORT
from ledger.ipfs.unixfs import ImportOptions
from ledger.keys import new_key
from ledger.registry import Registry, SignerKeys
from ledger.rights.description import DESCRIPTION_TYPE, Description, description_from_json
from ledger.settings import Settings
from local_chain import anvil_dev_account
from tests.exhibits.build_support import sacred_terms
from tests.exhibits.test_site_xss import CORPUS
from tests.registry_support import PASSPHRASE, settings_on
from tests.rights_support import public_terms, restricted_terms, write_terms

__all__ = ["CORPUS", "HIDDEN", "HIDDEN_WORDS", "PUBLIC_COUNT", "PagesWorld", "make_pages_world"]

#: The items that are never public, with their title and subject.
HIDDEN: Final = {
    "sacred": ("Sacred Sea Song", "moonlit-ritual"),
    "tide": ("Hidden Tide Chant", "neap-tide-secret"),
    "drum": ("Withdrawn Drum Song", "drumskin-lore"),
    "kept": ("Kept Basket Pattern", "family-weave-only"),
}
#: Words of the hidden items (titles, subjects, file names) that no page may hold.
HIDDEN_WORDS: Final = tuple(
    word for name, (title, subject) in HIDDEN.items() for word in (title, subject, f"{name}-file")
)
#: The public items: anchor, the corpus, four nets, legacy, Hill's basket.
PUBLIC_COUNT: Final = 1 + len(CORPUS) + 4 + 1 + 1


def described(title: str, subject: str, text: str | None = None) -> Description:
    document: dict[str, Any] = {
        "type": DESCRIPTION_TYPE,
        "version": 1,
        "title": {"en": title},
        "subjects": [subject],
    }
    if text is not None:
        document.update(description={"en": text}, creator=text)
    return description_from_json(document)


@dataclass(frozen=True, slots=True)
class PagesWorld:
    settings: Settings
    reef_name: str
    reef: bytes
    hill: bytes
    keys: dict[str, bytes]
    cids: dict[str, str]
    files: dict[str, Path]

    def id(self, name: str) -> str:
        return "0x" + self.keys[name].hex()

    def signer_keys(self) -> SignerKeys:
        return SignerKeys(self.settings, lambda _address: PASSPHRASE)


def _file(folder: Path, name: str, seed: int) -> Path:
    path = folder / f"{name}-file.bin"
    path.write_bytes(random.Random(seed).randbytes(1000 + seed))
    return path


def make_pages_world(chain: Settings, folder: Path) -> PagesWorld:
    """Register the collection on ``chain`` (a module's chain: undone when the module ends)."""
    settings = settings_on(chain, folder / "data")
    files = folder / "files"
    files.mkdir(parents=True)
    found: dict[str, tuple[bytes, str]] = {}
    paths: dict[str, Path] = {}
    with Registry(settings, sender=anvil_dev_account()) as reg:
        keys = SignerKeys(settings, lambda _address: PASSPHRASE)
        holders = [
            new_key(settings, PASSPHRASE, unsafe_light_kdf=True, encryption=KEM_X25519).address
            for _ in range(2)
        ]
        reef_name = f"<script>alert('reef')</script> Reef & Co {folder.name}"
        reg.communities.create(reef_name, holders, 1, keys)
        hill_holder = new_key(settings, PASSPHRASE, unsafe_light_kdf=True).address
        reg.communities.create(f"Hill-{folder.name}", [hill_holder], 1, keys)
        reef = reg.reader.resolve_community(reef_name)
        hill = reg.reader.resolve_community(f"Hill-{folder.name}")
        hostile_attribution = CORPUS[1]
        public = write_terms(
            folder / "public.json", public_terms(reef, attribution=hostile_attribution)
        )

        def register(
            names: list[str],
            terms: Path,
            descriptions: list[Description],
            on: bytes,
            options: ImportOptions = DEFAULT_IMPORT,
        ) -> None:
            for name in names:
                paths[name] = _file(files, name, len(paths) + 1)
            results = reg.items.register(
                [paths[n] for n in names], on, terms, keys, descriptions=descriptions,
                options=options,
            )  # fmt: skip
            for name, result in zip(names, results, strict=True):
                found[name] = (result.key, str(result.cid))

        register(["anchor"], public, [described("Anchor stone", "navigation")], reef)
        corpus = [f"xss-{i}" for i in range(len(CORPUS))]
        register(corpus, public, [described(t, t, t) for t in CORPUS], reef)
        nets = [f"net-{i}" for i in range(1, 5)]
        register(nets, public, [described(f"Fishing net {n[-1]}", "fishing") for n in nets], reef)
        kubo = ImportOptions(cid_version=0)
        register(["legacy"], public, [described("Legacy paddle", "carving")], reef, kubo)
        hill_terms = public_terms(hill, license="CC0-1.0", labels=["tk:outreach"])
        hill_public = write_terms(folder / "hill.json", hill_terms)
        register(["basket"], hill_public, [described("Hill basket", "weaving")], hill)
        window = {"time_zone": "UTC", "embargo_until": "2100-01-01T00:00:00Z"}
        hidden_terms = {
            "sacred": write_terms(folder / "sacred.json", sacred_terms(reef)),
            "tide": write_terms(folder / "tide.json", public_terms(reef, display=window)),
            "drum": public,
            "kept": write_terms(folder / "kept.json", restricted_terms(reef)),
        }
        for name, (title, subject) in HIDDEN.items():
            register([name], hidden_terms[name], [described(title, subject, title)], reef)
        reg.terms.revoke(found["drum"][1], keys, reef)
    return PagesWorld(
        settings=settings,
        reef_name=reef_name,
        reef=reef,
        hill=hill,
        keys={n: k for n, (k, _) in found.items()},
        cids={n: c for n, (_, c) in found.items()},
        files=paths,
    )
