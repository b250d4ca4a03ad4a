"""The chain the project runs on: by default a local anvil node that this package starts,
stops, persists under the data directory and deploys the registry to; or any other EVM
JSON-RPC endpoint (``HERITAGE_RPC_URL`` plus ``HERITAGE_DEPLOYMENT``). Nothing outside this
package assumes anvil: the rest of the project reads a :class:`~ledger.chain.Deployment`, and
what works on any chain (deployment files, connecting, chain errors) lives in
:mod:`ledger.chain`; this package imports from ``ledger``, never the reverse.
"""

from local_chain.anvil import ANVIL_VERSION, ChainPaths, find_anvil
from local_chain.dev_accounts import ANVIL_CHAIN_ID, ANVIL_DEV_ACCOUNT_0, anvil_dev_account
from local_chain.lifecycle import (
    REGISTRY_CONTRACT,
    ChainStatus,
    DownResult,
    UpResult,
    chain_down,
    chain_status,
    chain_up,
    uses_outside_chain,
)

__all__ = [
    "ANVIL_CHAIN_ID",
    "ANVIL_DEV_ACCOUNT_0",
    "ANVIL_VERSION",
    "REGISTRY_CONTRACT",
    "ChainPaths",
    "ChainStatus",
    "DownResult",
    "UpResult",
    "anvil_dev_account",
    "chain_down",
    "chain_status",
    "chain_up",
    "find_anvil",
    "uses_outside_chain",
]
