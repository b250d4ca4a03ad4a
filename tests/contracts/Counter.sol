// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

/// A test-only contract: storage that must survive a chain restart, an event for eth_getLogs,
/// and Osaka's CLZ opcode (EIP-7939), which only runs on a chain at Osaka or later.
contract Counter {
    uint256 public count;

    event Bumped(address indexed by, uint256 count);

    function bump() external {
        count += 1;
        emit Bumped(msg.sender, count);
    }

    function leadingZeros(uint256 x) external pure returns (uint256 n) {
        assembly {
            n := clz(x)
        }
    }
}
