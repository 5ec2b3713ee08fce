// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";
import {ERC20Capped} from "@openzeppelin/contracts/token/ERC20/extensions/ERC20Capped.sol";

/// @title MagnetToken
/// @notice The reward token. Only the ledger that created it mints, under the supply cap here and the daily
/// emission cap the ledger enforces.
contract MagnetToken is ERC20Capped {
    /// @dev The caller is not the ledger.
    error MagnetTokenUnauthorizedMinter(address caller);

    address public immutable minter;

    constructor(address minter_, uint256 maxSupply) ERC20("Magnet", "MAG") ERC20Capped(maxSupply) {
        minter = minter_;
    }

    /// @notice Mints `amount` to `to`. Requirements: caller is the ledger; supply stays under the cap.
    /// Emits {Transfer}.
    function mint(address to, uint256 amount) external {
        if (msg.sender != minter) revert MagnetTokenUnauthorizedMinter(msg.sender);
        _mint(to, amount);
    }
}
