"""The crash-safe journal of signed raw transactions under ``<data>/journal/``: one file per
transaction, written temp → fsync → rename → fsync of the directory *before* the transaction
is sent, so that a crash of the client or of the node never loses one.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, Literal

from eth_typing import ChecksumAddress
from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak

from ledger.errors import (
    JournalCorrupt,
    RegistryReverted,
)

__all__ = [
    "JournalEntry",
    "JournalState",
    "RecoveryReport",
    "TxJournal",
    "with_state",
]

_JOURNAL_NAME: Final = re.compile(r"(\d{20})-0x([0-9a-f]{64})\.json")

JournalState = Literal["signed", "confirmed", "reverted"]


@dataclass(frozen=True, slots=True)
class JournalEntry:
    """One signed raw transaction as the journal holds it."""

    chain_id: int
    sender: ChecksumAddress
    nonce: int
    tx_hash: bytes
    raw: bytes
    function: str
    state: JournalState
    block: int | None = None

    @property
    def file_name(self) -> str:
        return f"{self.nonce:020d}-0x{self.tx_hash.hex()}.json"

    def to_json(self) -> dict[str, Any]:
        return {
            "version": 1,
            "chain_id": self.chain_id,
            "sender": self.sender,
            "nonce": self.nonce,
            "tx_hash": "0x" + self.tx_hash.hex(),
            "raw": "0x" + self.raw.hex(),
            "function": self.function,
            "state": self.state,
            "block": self.block,
        }

    @classmethod
    def from_json(cls, document: Any, where: str) -> JournalEntry:
        try:
            entry = cls(
                chain_id=int(document["chain_id"]),
                sender=to_checksum_address(document["sender"]),
                nonce=int(document["nonce"]),
                tx_hash=bytes.fromhex(str(document["tx_hash"]).removeprefix("0x")),
                raw=bytes.fromhex(str(document["raw"]).removeprefix("0x")),
                function=str(document["function"]),
                state=document["state"],
                block=None if document.get("block") is None else int(document["block"]),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise JournalCorrupt(f"{where} is not a journal entry: {exc!r}") from None
        if entry.state not in ("signed", "confirmed", "reverted"):
            raise JournalCorrupt(f"{where} has an unknown state {entry.state!r}")
        if keccak(entry.raw) != entry.tx_hash:
            raise JournalCorrupt(
                f"{where}: the raw transaction does not hash to 0x{entry.tx_hash.hex()}",
                hint="the file was damaged; it cannot be re-sent",
            )
        return entry


class TxJournal:
    """Signed raw transactions in one directory, one file each, written crash-safely."""

    def __init__(self, directory: Path, *, fsync: bool = True) -> None:
        self.directory = directory
        self.fsync = fsync

    @classmethod
    def in_data_dir(cls, data_dir: Path, *, fsync: bool = True) -> TxJournal:
        return cls(data_dir / "journal", fsync=fsync)

    def _fsync_dir(self) -> None:
        if not self.fsync:
            return
        folder = os.open(self.directory, os.O_RDONLY)
        try:
            os.fsync(folder)
        finally:
            os.close(folder)

    def write(self, entry: JournalEntry) -> Path:
        """Write (or overwrite) ``entry``: temp file, fsync, rename, fsync of the directory."""
        self.directory.mkdir(parents=True, exist_ok=True)
        path = self.directory / entry.file_name
        tmp = path.with_name(f".{path.name}.tmp")
        with tmp.open("w", encoding="utf-8") as out:
            json.dump(entry.to_json(), out, sort_keys=True)
            out.write("\n")
            out.flush()
            if self.fsync:
                os.fsync(out.fileno())
        tmp.replace(path)
        self._fsync_dir()
        return path

    def remove(self, entry: JournalEntry) -> None:
        (self.directory / entry.file_name).unlink(missing_ok=True)
        self._fsync_dir()

    def entries(self) -> list[JournalEntry]:
        """Every entry, ordered by (sender, nonce)."""
        if not self.directory.is_dir():
            return []
        found: list[JournalEntry] = []
        for path in self.directory.iterdir():
            if not _JOURNAL_NAME.fullmatch(path.name):
                continue
            try:
                document = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, json.JSONDecodeError) as exc:
                raise JournalCorrupt(f"cannot read journal entry {path}: {exc}") from None
            found.append(JournalEntry.from_json(document, str(path)))
        return sorted(found, key=lambda e: (int(e.sender, 16), e.nonce, e.tx_hash))

    def prune(self, *, up_to_block: int) -> int:
        """Forget confirmed or reverted entries mined at or before ``up_to_block``
        (final on this chain); returns how many were removed."""
        removed = 0
        for entry in self.entries():
            if entry.state != "signed" and entry.block is not None and entry.block <= up_to_block:
                self.remove(entry)
                removed += 1
        return removed


@dataclass(frozen=True, slots=True)
class RecoveryReport:
    """What :meth:`RegistryClient.recover` found and did, entry by entry."""

    on_chain: tuple[JournalEntry, ...] = ()
    resent: tuple[JournalEntry, ...] = ()
    reverted: tuple[tuple[JournalEntry, RegistryReverted], ...] = ()
    conflicts: tuple[tuple[JournalEntry, str], ...] = ()
    other_chains: tuple[JournalEntry, ...] = ()

    @property
    def clean(self) -> bool:
        """True when every journalled transaction of this chain is on it, as signed."""
        return not self.reverted and not self.conflicts



def with_state(entry: JournalEntry, state: JournalState, block: int | None) -> JournalEntry:
    return JournalEntry(
        chain_id=entry.chain_id,
        sender=entry.sender,
        nonce=entry.nonce,
        tx_hash=entry.tx_hash,
        raw=entry.raw,
        function=entry.function,
        state=state,
        block=block,
    )
