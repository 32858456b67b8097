// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.20;

/// @title WeirMulti
/// @notice A minimal ERC-1155 for weir's Ethereum indexer tests: enough to emit
/// TransferSingle and TransferBatch. The deployer is the only minter; receiver contracts
/// are not checked. Written without external libraries.
contract WeirMulti {
    address public immutable minter;

    mapping(uint256 => mapping(address => uint256)) public balanceOf;
    mapping(address => mapping(address => bool)) public isApprovedForAll;

    event TransferSingle(address indexed operator, address indexed from, address indexed to, uint256 id, uint256 value);
    event TransferBatch(address indexed operator, address indexed from, address indexed to, uint256[] ids, uint256[] values);
    event ApprovalForAll(address indexed account, address indexed operator, bool approved);

    error NotMinter();
    error ZeroAddress();
    error NotAuthorized();
    error LengthMismatch();
    error InsufficientBalance(uint256 id, uint256 have, uint256 want);

    constructor() {
        minter = msg.sender;
    }

    /// @notice Creates `value` of token `id` for `to`; only the deployer may call it.
    function mint(address to, uint256 id, uint256 value) external {
        if (msg.sender != minter) revert NotMinter();
        if (to == address(0)) revert ZeroAddress();
        balanceOf[id][to] += value;
        emit TransferSingle(msg.sender, address(0), to, id, value);
    }

    function setApprovalForAll(address operator, bool approved) external {
        isApprovedForAll[msg.sender][operator] = approved;
        emit ApprovalForAll(msg.sender, operator, approved);
    }

    function safeTransferFrom(address from, address to, uint256 id, uint256 value, bytes calldata data) external {
        data;
        _authorize(from, to);
        _move(from, to, id, value);
        emit TransferSingle(msg.sender, from, to, id, value);
    }

    function safeBatchTransferFrom(
        address from,
        address to,
        uint256[] calldata ids,
        uint256[] calldata values,
        bytes calldata data
    ) external {
        data;
        if (ids.length != values.length) revert LengthMismatch();
        _authorize(from, to);
        for (uint256 i = 0; i < ids.length; i++) {
            _move(from, to, ids[i], values[i]);
        }
        emit TransferBatch(msg.sender, from, to, ids, values);
    }

    function _authorize(address from, address to) private view {
        if (to == address(0)) revert ZeroAddress();
        if (msg.sender != from && !isApprovedForAll[from][msg.sender]) revert NotAuthorized();
    }

    function _move(address from, address to, uint256 id, uint256 value) private {
        uint256 have = balanceOf[id][from];
        if (have < value) revert InsufficientBalance(id, have, value);
        balanceOf[id][from] = have - value;
        balanceOf[id][to] += value;
    }
}
