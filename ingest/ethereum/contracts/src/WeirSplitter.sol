// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.20;

/// @title WeirSplitter
/// @notice Forwards ether to several addresses, for weir's Ethereum indexer tests: its calls
/// make internal transfers (value moved by calls inside a transaction), nested ones and ones
/// undone by a reverted inner call, which only a call tracer sees. Keeps no accounts: ether
/// left over by rounding stays in the contract.
contract WeirSplitter {
    error NoRecipients();
    error SendFailed(address to);
    error Refused();

    /// @notice Sends msg.value in equal shares to every address of `to` (the remainder of
    /// the division stays here); reverts when a recipient refuses its share.
    function split(address[] calldata to) public payable {
        _split(to, msg.value);
    }

    /// @notice Sends equal shares of msg.value to `to` like split, then reverts with
    /// Refused: every transfer it made is undone. For a failed call frame whose children
    /// succeeded.
    function splitAndRevert(address[] calldata to) external payable {
        _split(to, msg.value);
        revert Refused();
    }

    /// @notice Exercises every shape of internal transfer in one call. msg.value is cut in
    /// thirds: the first is split among `to` from here; the second is forwarded through
    /// next.split(to) (a nested transfer, whose shares next sends); the third is offered to
    /// next.splitAndRevert(to) inside try/catch, so that frame and the shares it sent are
    /// undone, and it is refunded to the sender instead. The remainder of the division by
    /// three stays here.
    function splitNested(WeirSplitter next, address[] calldata to) external payable {
        uint256 third = msg.value / 3;
        _split(to, third);
        next.split{value: third}(to);
        try next.splitAndRevert{value: third}(to) {} catch {
            (bool ok,) = msg.sender.call{value: third}("");
            if (!ok) revert SendFailed(msg.sender);
        }
    }

    function _split(address[] calldata to, uint256 amount) private {
        if (to.length == 0) revert NoRecipients();
        uint256 share = amount / to.length;
        for (uint256 i = 0; i < to.length; i++) {
            (bool ok,) = to[i].call{value: share}("");
            if (!ok) revert SendFailed(to[i]);
        }
    }
}
