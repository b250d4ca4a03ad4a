"""A file an exhibit site serves, verified as a derivative of its registered master.

An exhibit's ``proofs.json`` (``"type": "heritage/exhibit-proofs"``; published schema
``ledger/schemas/exhibit-proofs.schema.json``; written by ``exhibits.proofs``) lists each
derived file with its CID, the import settings that give it, the derivation record that made
it, and the master's claim. :func:`verify_served` answers ``heritage verify FILE --proofs
proofs.json`` for such a file:

1. the proofs file is read strictly (:func:`parse_exhibit_proofs`: size cap, strict JSON, the
   schema, every CID parsed, and the file's own consistency: each listed file named in a
   derivation record of its item's master); anything else is
   :class:`~ledger.errors.InvalidExhibitProofs` (exit 4);
2. a proofs file of another chain or registry than the one configured is refused: its claims
   cannot be checked here;
3. FILE is hashed once per distinct import settings listed (one in practice) and looked up;
4. the master's claim is verified on chain by :func:`ledger.verify.verify_online`, exactly as
   ``heritage verify 0x<claim key>`` does, and must be the claim the proofs name.

Verdicts (:class:`ServedStatus`, docs/verify.md): ``verified-derivative`` (0), ``mismatch``
(12: FILE is not what the proofs list at its path, or the chain's claim is not the one the
proofs name), ``not-listed`` (13), or, when the file is listed but its master's claim is not
verified, the master's own status and exit code (10, 11, 13, 14, 16).
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from importlib import resources
from pathlib import Path, PurePosixPath
from typing import Any, Final

from ledger import strict_json
from ledger.errors import HeritageError, InvalidExhibitProofs, UsageError
from ledger.ipfs.cid import Cid
from ledger.ipfs.unixfs import ImportOptions
from ledger.json_schema import json_pointer, schema_validator
from ledger.verify.assess import CheckCache
from ledger.verify.content import compute_cid, same_content
from ledger.verify.report import Report, Status, verify_online
from ledger.verify.sealed import SealedReader

__all__ = [
    "EXHIBIT_PROOFS_TYPE",
    "MAX_EXHIBIT_PROOFS_BYTES",
    "ExhibitProofs",
    "ListedFile",
    "ProvenItem",
    "ServedReport",
    "ServedStatus",
    "is_exhibit_proofs",
    "parse_exhibit_proofs",
    "verify_served",
]

EXHIBIT_PROOFS_TYPE: Final = "heritage/exhibit-proofs"
#: A proofs.json larger than this is refused before it is parsed (a site of 100,000 items
#: with a few files each is about 200 MiB; this is the schema's item cap with room).
MAX_EXHIBIT_PROOFS_BYTES: Final = 256 << 20
_MAX_DEPTH: Final = 12  # the format nests 8 levels (a derivation's settings a few more)
_SNIFF: Final = 4096


@dataclass(frozen=True, slots=True)
class ListedFile:
    """One derived file of an item, as the proofs list it."""

    path: str  # relative to the site's root: items/<id>/files/<name>
    name: str
    cid: Cid
    size: int
    media_type: str
    options: ImportOptions
    derivation: Mapping[str, Any]  # the derivation record that lists it

    def to_json(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "name": self.name,
            "cid": str(self.cid),
            "size": self.size,
            "media_type": self.media_type,
        }


@dataclass(frozen=True, slots=True)
class ProvenItem:
    """One item of the proofs: the master's claim and its derived files."""

    key: bytes
    community: bytes
    cid: Cid
    kind: str
    block: int
    files: tuple[ListedFile, ...]


@dataclass(frozen=True, slots=True)
class ExhibitProofs:
    """A parsed exhibit ``proofs.json``."""

    chain_id: int
    registry: str
    built_at: str
    items: tuple[ProvenItem, ...]


@cache
def _validator() -> Any:
    text = resources.files("ledger").joinpath("schemas", "exhibit-proofs.schema.json")
    return schema_validator(strict_json.loads(text.read_text()))


def is_exhibit_proofs(data: bytes) -> bool:
    """Whether ``data`` says it is an exhibit's proofs.json (its ``type``; decided from the
    parse when it parses, else from its first bytes, so a broken one is still judged as one).

    Bytes that never spell the type are not parsed at all: an item's proofs file, which goes
    to the offline verifier, costs one scan here and no second parse."""
    marker = EXHIBIT_PROOFS_TYPE.encode()
    if marker not in data:
        return False
    try:
        document = strict_json.loads(data, max_depth=_MAX_DEPTH)
    except ValueError:
        return marker in data[:_SNIFF]
    return isinstance(document, dict) and document.get("type") == EXHIBIT_PROOFS_TYPE


def _invalid(
    where: str, message: str, problems: Sequence[Mapping[str, str]] = ()
) -> InvalidExhibitProofs:
    return InvalidExhibitProofs(
        f"{where}: {message}",
        problems=tuple(problems),
        hint="pass the proofs.json of an exhibit site as `heritage exhibit build` wrote it",
    )


def _options(settings: Mapping[str, Any]) -> ImportOptions:
    return ImportOptions(
        cid_version=int(settings["cid_version"]),
        raw_leaves=bool(settings["raw_leaves"]),
        chunk_size=int(settings["chunk_size"]),
    )


def _cid(where: str, pointer: str, text: str) -> Cid:
    try:
        return Cid.parse(text)
    except HeritageError:
        raise _invalid(
            where,
            f"{pointer} is not a CID",
            [{"pointer": pointer, "rule": "cid", "message": "not a CID"}],
        ) from None


def _item(where: str, key_text: str, value: Mapping[str, Any]) -> ProvenItem:
    claim = value["claim"]
    base = f"/items/{key_text}"
    if claim["key"] != key_text:
        raise _invalid(where, f"{base}/claim/key is not the item's own key")
    master = _cid(where, f"{base}/claim/cid", claim["cid"])
    derivations = value["derivations"]
    for index, record in enumerate(derivations):
        if not same_content(
            _cid(where, f"{base}/derivations/{index}/master", record["master"]), master
        ):
            raise _invalid(where, f"{base}/derivations/{index} derives another master")
        for o_index, output in enumerate(record["outputs"]):
            _cid(where, f"{base}/derivations/{index}/outputs/{o_index}/cid", output["cid"])
    if claim["terms_cid"] is not None:
        _cid(where, f"{base}/claim/terms_cid", claim["terms_cid"])
    files = []
    for index, entry in enumerate(value["files"]):
        pointer = f"{base}/files/{index}"
        cid = _cid(where, f"{pointer}/cid", entry["cid"])
        if entry["path"] != f"items/{key_text}/files/{entry['name']}":
            raise _invalid(where, f"{pointer}/path is not items/<its item>/files/<its name>")
        record = next(
            (
                r
                for r in derivations
                if any(
                    o["cid"] == entry["cid"] and o["name"] == entry["name"] for o in r["outputs"]
                )
            ),
            None,
        )
        if record is None:
            raise _invalid(where, f"{pointer}: no derivation record of the item lists it")
        try:
            options = _options(entry["import"])
        except UsageError as exc:
            raise _invalid(where, f"{pointer}/import: {exc.message}") from None
        files.append(
            ListedFile(
                entry["path"],
                entry["name"],
                cid,
                int(entry["size"]),
                entry["media_type"],
                options,
                record,
            )
        )
    return ProvenItem(
        key=bytes.fromhex(key_text[2:]),
        community=bytes.fromhex(claim["community"][2:]),
        cid=master,
        kind=str(claim["kind"]),
        block=int(claim["block"]),
        files=tuple(files),
    )


def parse_exhibit_proofs(data: bytes, where: str = "proofs.json") -> ExhibitProofs:
    """The proofs in ``data``, checked (see the module), or :class:`InvalidExhibitProofs`."""
    if len(data) > MAX_EXHIBIT_PROOFS_BYTES:
        raise _invalid(where, f"{len(data):,} bytes, over the cap of {MAX_EXHIBIT_PROOFS_BYTES:,}")
    try:
        document = strict_json.loads(data, max_depth=_MAX_DEPTH)
    except ValueError as exc:
        raise _invalid(where, f"not JSON: {str(exc)[:200]}") from None
    errors = sorted(_validator().iter_errors(document), key=lambda e: list(e.absolute_path))
    if errors:
        problems = [
            {
                "pointer": json_pointer(e.absolute_path),
                "rule": str(e.validator),
                "message": e.message[:300],
            }
            for e in errors[:20]
        ]
        first = problems[0]
        raise _invalid(
            where,
            f"breaks its schema at {first['pointer'] or '/'} ({first['rule']}: {first['message']})",
            problems,
        )
    try:
        datetime.strptime(document["built_at"], "%Y-%m-%dT%H:%M:%SZ")
    except ValueError:
        raise _invalid(where, "/built_at is not a moment") from None
    items = tuple(_item(where, key, value) for key, value in document["items"].items())
    return ExhibitProofs(
        chain_id=int(document["chain"]["chain_id"]),
        registry=str(document["chain"]["registry"]),
        built_at=str(document["built_at"]),
        items=items,
    )


class ServedStatus(enum.Enum):
    VERIFIED_DERIVATIVE = "verified-derivative"
    MISMATCH = "mismatch"
    NOT_LISTED = "not-listed"


_EXIT: Final = {
    ServedStatus.VERIFIED_DERIVATIVE: 0,
    ServedStatus.MISMATCH: 12,
    ServedStatus.NOT_LISTED: 13,
}


@dataclass(frozen=True, slots=True)
class ServedReport:
    """The verdict about a served file: its own status, or its master's when the file is
    listed but the master's claim is not verified (``master`` is then that report)."""

    status: ServedStatus | Status
    path: str
    computed: tuple[tuple[ImportOptions, Cid], ...]  # FILE's CID under each settings tried
    item: ProvenItem | None = None
    listed: ListedFile | None = None
    master: Report | None = None
    problems: tuple[str, ...] = ()
    # Other items that list the same bytes (posters of one kind are alike): the verdict is
    # about ``item``; the bytes say nothing about which of these they were made for.
    also_listed: tuple[str, ...] = ()

    @property
    def exit_code(self) -> int:
        if isinstance(self.status, ServedStatus):
            return _EXIT[self.status]
        return self.status.exit_code

    def summary(self) -> str:
        item = "" if self.item is None else f" of item 0x{self.item.key.hex()}"
        if self.status is ServedStatus.VERIFIED_DERIVATIVE and self.listed and self.item:
            also = (
                f" (the same bytes are also listed for {len(self.also_listed)} other item(s))"
                if self.also_listed
                else ""
            )
            return (
                f"verified-derivative: {self.listed.path} ({self.listed.cid}) was derived "
                f"from the registered master {self.item.cid}{item}, whose claim is verified "
                f"on chain{also}"
            )
        if self.status is ServedStatus.MISMATCH:
            return "mismatch: " + "; ".join(self.problems)
        if self.status is ServedStatus.NOT_LISTED:
            cids = ", ".join(sorted({str(cid) for _, cid in self.computed}))
            return f"not-listed: the proofs list no file with this file's CID ({cids})"
        master = "" if self.master is None else self.master.summary()
        return f"{self.status.value}: the file is listed{item}, but its master: {master}"

    def to_json(self) -> dict[str, Any]:
        return {
            "type": "heritage/served-file-report",
            "version": 1,
            "status": self.status.value,
            "exit_code": self.exit_code,
            "summary": self.summary(),
            "file": {
                "path": self.path,
                "computed_cids": [
                    {
                        "cid": str(cid),
                        "cid_version": o.cid_version,
                        "raw_leaves": o.leaves_raw,
                        "chunk_size": o.chunk_size,
                    }
                    for o, cid in self.computed
                ],
            },
            "listed": None if self.listed is None else self.listed.to_json(),
            "item": None if self.item is None else "0x" + self.item.key.hex(),
            "master_cid": None if self.item is None else str(self.item.cid),
            "derivation": None if self.listed is None else dict(self.listed.derivation),
            "master": None if self.master is None else self.master.to_json(),
            "problems": list(self.problems),
            "also_listed": list(self.also_listed),
        }


def _settings_of(options: ImportOptions) -> tuple[int, bool, int]:
    return options.cid_version, options.leaves_raw, options.chunk_size


def _same_site_path(path: Path, listed: str) -> bool:
    """Whether ``path`` ends with the site path ``listed`` (items/<id>/files/<name>)."""
    parts = PurePosixPath(path.resolve().as_posix()).parts
    wanted = PurePosixPath(listed).parts
    return len(parts) >= len(wanted) and parts[-len(wanted) :] == wanted


def verify_served(
    reader: SealedReader,
    path: Path,
    proofs: ExhibitProofs,
    *,
    chain_id: int,
    cache: CheckCache | None = None,
) -> ServedReport:
    """Verify the served file at ``path`` against ``proofs`` and the chain (see the module);
    ``chain_id``: the configured chain's (its deployment file's)."""
    registry = reader.deployment.registry_address
    if (proofs.chain_id, proofs.registry.lower()) != (chain_id, registry.lower()):
        raise UsageError(
            f"the proofs are of chain {proofs.chain_id}, registry {proofs.registry}; the "
            f"configured chain is {chain_id}, registry {registry}",
            hint="point HERITAGE_RPC_URL and HERITAGE_DEPLOYMENT at the exhibit's chain and "
            "registry: a claim can only be checked on the chain that records it",
        )
    if not path.is_file():
        raise UsageError(f"{path} is not a regular file", hint="verify one served file")
    listed = [(item, entry) for item in proofs.items for entry in item.files]
    computed: dict[tuple[int, bool, int], tuple[ImportOptions, Cid]] = {}
    for _, entry in listed:
        key = _settings_of(entry.options)
        if key not in computed:
            computed[key] = (entry.options, compute_cid(path, entry.options))
    tried = tuple(computed.values())
    matches = [
        (item, entry)
        for item, entry in listed
        if same_content(computed[_settings_of(entry.options)][1], entry.cid)
    ]
    if not matches:
        at_path = [(item, entry) for item, entry in listed if _same_site_path(path, entry.path)]
        if at_path:
            item, entry = at_path[0]
            got = computed[_settings_of(entry.options)][1]
            return ServedReport(
                ServedStatus.MISMATCH,
                str(path),
                tried,
                item,
                entry,
                problems=(f"{entry.path} should give {entry.cid}, this file gives {got}",),
            )
        return ServedReport(ServedStatus.NOT_LISTED, str(path), tried)
    # The same bytes may be served by several items (two posters alike): the one at this
    # path if any, else the first listed.
    item, entry = next(((i, e) for i, e in matches if _same_site_path(path, e.path)), matches[0])
    also = tuple(dict.fromkeys("0x" + i.key.hex() for i, _ in matches if i is not item))
    master = verify_online(reader, "0x" + item.key.hex(), cache=cache)
    a = master.assessment
    if master.status is Status.UNKNOWN or a is None:
        return ServedReport(
            Status.UNKNOWN,
            str(path),
            tried,
            item,
            entry,
            master,
            ("the chain has no claim with the proofs' key",),
        )
    problems = []
    if not same_content(Cid.parse(a.cid), item.cid):
        problems.append(
            f"the chain's claim 0x{item.key.hex()} is on {a.cid}, the proofs name {item.cid}"
        )
    if a.community != item.community:
        problems.append(
            f"the chain's claim is by community 0x{a.community.hex()}, the proofs "
            f"name 0x{item.community.hex()}"
        )
    if problems:
        return ServedReport(
            ServedStatus.MISMATCH, str(path), tried, item, entry, master, tuple(problems)
        )
    status = ServedStatus.VERIFIED_DERIVATIVE if master.status is Status.VERIFIED else master.status
    return ServedReport(status, str(path), tried, item, entry, master, also_listed=also)
