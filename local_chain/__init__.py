"""The chain the project runs on: by default a local anvil node that this package starts,
stops, persists under the data directory and deploys the registry to; or any other EVM
JSON-RPC endpoint (``HERITAGE_RPC_URL`` plus ``HERITAGE_DEPLOYMENT``). Nothing outside this
package assumes anvil: the rest of the project reads a :class:`Deployment`.
"""

from local_chain.anvil import ANVIL_VERSION, ChainPaths, find_anvil
from local_chain.deploy import (
    ANVIL_DEV_ACCOUNT_0,
    Deployment,
    anvil_dev_account,
    connect,
    read_deployment,
)
from local_chain.lifecycle import (
    REGISTRY_CONTRACT,
    ChainStatus,
    DownResult,
    UpResult,
    chain_down,
    chain_status,
    chain_up,
    deployment_path,
    uses_outside_chain,
)

__all__ = [
    "ANVIL_DEV_ACCOUNT_0",
    "ANVIL_VERSION",
    "REGISTRY_CONTRACT",
    "ChainPaths",
    "ChainStatus",
    "Deployment",
    "DownResult",
    "UpResult",
    "anvil_dev_account",
    "chain_down",
    "chain_status",
    "chain_up",
    "connect",
    "deployment_path",
    "find_anvil",
    "read_deployment",
    "uses_outside_chain",
]
