// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {TimelockController} from "@openzeppelin/contracts/governance/TimelockController.sol";

/// @title MagnetTimelock
/// @notice The governor of Params once sealed: every parameter change is scheduled in public and takes effect no
/// sooner than `minDelay` later, so nodes see it coming and can leave first. OpenZeppelin's TimelockController as is;
/// no admin (the timelock administers itself).
contract MagnetTimelock is TimelockController {
    constructor(uint256 minDelay, address[] memory proposers, address[] memory executors)
        TimelockController(minDelay, proposers, executors, address(0))
    {}
}
