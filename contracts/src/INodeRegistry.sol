// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

/// @title INodeRegistry
/// @notice Nodes registered with their wallet, nodeId, public key, declared tier and a bond in the native coin.
interface INodeRegistry {
    /// @dev The public key is not 64 bytes (uncompressed x || y, no 0x04 prefix).
    error RegistryInvalidPublicKey(uint256 length);
    /// @dev The public key does not belong to the sender.
    error RegistryKeyNotSender(address keyAddress, address sender);
    /// @dev nodeId is not the first 8 bytes of sha256(compressed key).
    error RegistryNodeIdMismatch(bytes8 expected, bytes8 given);
    /// @dev The wallet is already registered, or the nodeId is taken.
    error RegistryAlreadyRegistered(address owner, bytes8 nodeId);
    error RegistryNotRegistered(address owner);
    error RegistryInvalidTier(uint8 tier);
    error RegistryBondTooLow(uint256 bond, uint256 minimum);
    error RegistryAlreadyUnbonding(address owner, uint64 releaseAt);
    error RegistryNotUnbonding(address owner);
    error RegistryUnbondingNotOver(address owner, uint64 releaseAt, uint256 now_);
    /// @dev The bond is held by an open challenge.
    error RegistryBondLocked(address owner, uint32 openChallenges);
    error RegistryNotLocked(address owner);
    error RegistryNothingToWithdraw(address account);
    error RegistryTransferFailed(address to, uint256 amount);

    event NodeRegistered(address indexed owner, bytes8 indexed nodeId, uint8 tier, uint256 bond);
    event BondAdded(address indexed owner, uint256 amount, uint256 bond);
    event UnbondingRequested(address indexed owner, uint64 releaseAt);
    event BondWithdrawn(address indexed owner, bytes8 indexed nodeId, uint256 amount);
    event NodeLocked(address indexed owner, uint32 openChallenges);
    event NodeUnlocked(address indexed owner, uint32 openChallenges);
    /// @dev slashed == toBeneficiary + burned, exactly.
    event NodeSlashed(address indexed owner, uint16 rateBps, uint256 slashed, address indexed beneficiary, uint256 toBeneficiary, uint256 burned);
    event PayoutWithdrawn(address indexed account, uint256 amount);

    function isRegistered(address owner) external view returns (bool);
    function isActive(address owner) external view returns (bool);
    function tierOf(address owner) external view returns (uint8);
    function rewardMultiplierBps(address owner) external view returns (uint256);
    function lock(address owner) external;
    function unlock(address owner) external;
    function slash(address owner, uint16 rateBps, address beneficiary) external returns (uint256 slashed);
}
