"""Signers: the keyholder keys of this data directory that sign registry actions.

Keys come from ``<data>/keys``, are unlocked on first use and kept for the command; the
caller says which keys may sign and how to get each passphrase.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from eth_account.signers.local import LocalAccount
from eth_typing import ChecksumAddress
from eth_utils.address import is_address, to_checksum_address

from ledger import consent
from ledger.chain import Community
from ledger.errors import UsageError
from ledger.keys import load_signer
from ledger.registry.results import to_hex
from ledger.settings import Settings

__all__ = ["SignerKeys"]


@dataclass
class SignerKeys:
    """Keyholder keys from ``<data>/keys``, unlocked on first use and kept for the command.

    ``addresses``: the keys the caller named (None: every keyholder of the community whose
    keystore is here, by increasing address). ``passphrase(address)`` returns the passphrase of
    one key (the CLI reads it from ``--password-file``: one file for every key, or one per
    ``--signer`` in order).
    """

    settings: Settings
    passphrase: Callable[[ChecksumAddress], str]
    addresses: tuple[str, ...] | None = None  # checksummed by __post_init__
    _unlocked: dict[str, LocalAccount] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.addresses is not None:
            for address in self.addresses:
                if not is_address(address):
                    raise UsageError(f"signer {address!r} is not an Ethereum address")
            self.addresses = tuple(to_checksum_address(a) for a in self.addresses)

    def _available(self, keyholders: Sequence[ChecksumAddress]) -> list[ChecksumAddress]:
        if self.addresses is not None:
            return [a for a in keyholders if a in self.addresses]
        folder = self.settings.data_dir / "keys"
        return [a for a in keyholders if (folder / f"{a}.json").is_file()]

    def unlock(self, address: ChecksumAddress) -> LocalAccount:
        account = self._unlocked.get(address)
        if account is None:
            account = load_signer(self.settings, address, self.passphrase(address))
            self._unlocked[address] = account
        return account

    def pick(
        self, community: Community, needed: int, what: str, *, only_this: bool = True
    ) -> list[LocalAccount]:
        """``needed`` keyholders of ``community`` with a key here (lowest addresses first).
        ``only_this``: every named signer must be a keyholder of ``community`` (custody names
        the signers of two communities at once, and passes False)."""
        if self.addresses is not None and only_this:
            strangers = [a for a in self.addresses if a not in community.keyholders]
            if strangers:
                raise UsageError(
                    f"{', '.join(strangers)} is not a keyholder of community "
                    f"{to_hex(community.id)}",
                    hint="--signer must name keyholders of the community that signs",
                )
        found = self._available(community.keyholders)
        if len(found) < needed:
            raise UsageError(
                f"{what} needs {needed} signatures of community {to_hex(community.id)} "
                f"(keyholders {', '.join(community.keyholders)}); only {len(found)} of their "
                f"keys are available here",
                hint="import the keyholders' keys with `heritage keys import`, or name them "
                "with --signer",
            )
        return [self.unlock(a) for a in found[:needed]]

    def sign(self, typed: consent.TypedData, signers: Sequence[LocalAccount]) -> bytes:
        return consent.pack_signatures(
            (a.address, consent.sign(typed, bytes(a.key))) for a in signers
        )


