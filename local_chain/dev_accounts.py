"""anvil's well-known dev accounts: the senders that pay gas on a local development chain.

Dev account 0 (mnemonic "test test ... junk") is public knowledge, funded only on local
development chains: the one key this repository may contain.
"""

from __future__ import annotations

from typing import Final

from eth_account import Account
from eth_account.signers.local import LocalAccount

__all__ = ["ANVIL_CHAIN_ID", "ANVIL_DEV_ACCOUNT_0", "anvil_dev_account"]

#: The chain id anvil runs with unless told otherwise.
ANVIL_CHAIN_ID: Final = 31337
ANVIL_DEV_ACCOUNT_0: Final = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"
_ANVIL_DEV_KEY_0: Final = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"


def anvil_dev_account() -> LocalAccount:
    """anvil's well-known dev account 0, the sender that pays gas on a local chain only."""
    account: LocalAccount = Account.from_key(_ANVIL_DEV_KEY_0)
    return account
