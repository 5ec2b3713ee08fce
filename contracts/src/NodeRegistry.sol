// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {ReentrancyGuard} from "@openzeppelin/contracts/utils/ReentrancyGuard.sol";
import {Math} from "@openzeppelin/contracts/utils/math/Math.sol";
import {IParams} from "./IParams.sol";
import {INodeRegistry} from "./INodeRegistry.sol";

/// @title NodeRegistry
/// @notice A node registers with its wallet, nodeId and public key; the contract checks that the key is the
/// sender's and that nodeId = sha256(compressed key)[0:8]. Bonds are in the native coin. Slashed coin goes to
/// the challenger (pull payment) or is burned (locked here forever, counted in {totalBurned}).
contract NodeRegistry is AccessControl, ReentrancyGuard, INodeRegistry {
    /// @dev Held by the notary panel alone (its rulings and no-show reports).
    bytes32 public constant SLASHER_ROLE = keccak256("SLASHER_ROLE");
    uint256 private constant _BPS = 10_000;

    struct Node {
        bytes8 nodeId;
        uint8 tier;
        bool registered;
        uint32 openChallenges;
        uint64 releaseAt; // 0 while bonded; set by requestUnbond
        uint256 bond;
        /// @dev The minimum bond when the node registered: a later increase of the minimum does not turn it inactive.
        uint256 minBondAtJoin;
    }

    IParams public immutable params;
    mapping(address owner => Node) private _nodes;
    mapping(bytes8 nodeId => address) public ownerOf;
    mapping(address account => uint256) public payouts;
    uint256 public totalBonded;
    uint256 public totalPayouts;
    uint256 public totalSlashed;
    uint256 public totalBurned;
    uint256 public nodeCount;

    constructor(IParams params_, address admin) {
        params = params_;
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
    }

    /// @notice The stored record of `owner`.
    function nodeOf(address owner) external view returns (Node memory) {
        return _nodes[owner];
    }

    function isRegistered(address owner) external view returns (bool) {
        return _nodes[owner].registered;
    }

    /// @notice Registered, not unbonding, and bonded at least its minimum: the lower of today's and the one it
    /// registered under (bonds are grandfathered against increases, so governance cannot price out existing nodes).
    function isActive(address owner) external view returns (bool) {
        Node storage n = _nodes[owner];
        return n.registered && n.releaseAt == 0 && n.bond >= _minimumBondOf(n);
    }

    /// @notice The reward multiplier of `owner`: its declared tier's, capped by what its bond backs. A bond of k times
    /// the node's minimum backs at most k x (k * 10_000 bps), so claiming the 3.0x tier costs three minimum bonds at
    /// risk of slashing: a declared tier is worth only the stake behind it.
    function rewardMultiplierBps(address owner) external view returns (uint256) {
        Node storage n = _nodes[owner];
        if (!n.registered) revert RegistryNotRegistered(owner);
        uint256 declared = params.tierMultiplierBps(n.tier);
        uint256 backed = Math.mulDiv(n.bond, _BPS, _minimumBondOf(n));
        return Math.min(declared, backed);
    }

    function _minimumBondOf(Node storage n) private view returns (uint256) {
        uint256 today = params.minNodeBond();
        return n.minBondAtJoin != 0 && n.minBondAtJoin < today ? n.minBondAtJoin : today;
    }

    function tierOf(address owner) external view returns (uint8) {
        if (!_nodes[owner].registered) revert RegistryNotRegistered(owner);
        return _nodes[owner].tier;
    }

    /// @notice Registers the sender. `publicKey` is the 64-byte uncompressed key (x || y); the bond is msg.value.
    /// Requirements: key of the sender; nodeId matches; tier < 5; bond >= minimum; wallet and nodeId unused.
    /// Emits {NodeRegistered}.
    function register(bytes calldata publicKey, bytes8 nodeId, uint8 tier) external payable {
        if (publicKey.length != 64) revert RegistryInvalidPublicKey(publicKey.length);
        address keyAddress = address(uint160(uint256(keccak256(publicKey))));
        if (keyAddress != msg.sender) revert RegistryKeyNotSender(keyAddress, msg.sender);
        bytes8 expected = nodeIdOf(publicKey);
        if (expected != nodeId) revert RegistryNodeIdMismatch(expected, nodeId);
        if (_nodes[msg.sender].registered || ownerOf[nodeId] != address(0)) revert RegistryAlreadyRegistered(msg.sender, nodeId);
        if (tier >= 5) revert RegistryInvalidTier(tier);
        uint256 minimum = params.minNodeBond();
        if (msg.value < minimum) revert RegistryBondTooLow(msg.value, minimum);
        _nodes[msg.sender] =
            Node({nodeId: nodeId, tier: tier, registered: true, openChallenges: 0, releaseAt: 0, bond: msg.value, minBondAtJoin: minimum});
        ownerOf[nodeId] = msg.sender;
        totalBonded += msg.value;
        ++nodeCount;
        emit NodeRegistered(msg.sender, nodeId, tier, msg.value);
    }

    /// @notice First 8 bytes of sha256 of the 33-byte compressed form of a 64-byte public key.
    function nodeIdOf(bytes calldata publicKey) public pure returns (bytes8) {
        bytes1 prefix = uint8(publicKey[63]) & 1 == 1 ? bytes1(0x03) : bytes1(0x02);
        return bytes8(sha256(abi.encodePacked(prefix, publicKey[0:32])));
    }

    /// @notice Adds msg.value to the sender's bond. Requirements: registered, not unbonding. Emits {BondAdded}.
    function addBond() external payable {
        Node storage n = _requireNode(msg.sender);
        if (n.releaseAt != 0) revert RegistryAlreadyUnbonding(msg.sender, n.releaseAt);
        n.bond += msg.value;
        totalBonded += msg.value;
        emit BondAdded(msg.sender, msg.value, n.bond);
    }

    /// @notice Starts unbonding; the node stops being active at once. Emits {UnbondingRequested}.
    function requestUnbond() external {
        Node storage n = _requireNode(msg.sender);
        if (n.releaseAt != 0) revert RegistryAlreadyUnbonding(msg.sender, n.releaseAt);
        n.releaseAt = uint64(block.timestamp) + params.unbondingDelay();
        emit UnbondingRequested(msg.sender, n.releaseAt);
    }

    /// @notice Withdraws the whole bond after the unbonding delay and deregisters the node.
    /// Requirements: unbonding over; no open challenge. Emits {BondWithdrawn}.
    function withdrawBond() external nonReentrant {
        Node storage n = _requireNode(msg.sender);
        if (n.releaseAt == 0) revert RegistryNotUnbonding(msg.sender);
        if (block.timestamp < n.releaseAt) revert RegistryUnbondingNotOver(msg.sender, n.releaseAt, block.timestamp);
        if (n.openChallenges != 0) revert RegistryBondLocked(msg.sender, n.openChallenges);
        uint256 amount = n.bond;
        bytes8 nodeId = n.nodeId;
        totalBonded -= amount;
        delete ownerOf[nodeId];
        delete _nodes[msg.sender];
        --nodeCount;
        emit BondWithdrawn(msg.sender, nodeId, amount);
        _send(msg.sender, amount);
    }

    /// @notice Withdraws the challenger rewards owed to the sender. Emits {PayoutWithdrawn}.
    function withdrawPayout() external nonReentrant {
        uint256 amount = payouts[msg.sender];
        if (amount == 0) revert RegistryNothingToWithdraw(msg.sender);
        payouts[msg.sender] = 0;
        totalPayouts -= amount;
        emit PayoutWithdrawn(msg.sender, amount);
        _send(msg.sender, amount);
    }

    /// @notice Holds the bond of `owner` while a challenge is open. Requirements: SLASHER_ROLE. Emits {NodeLocked}.
    function lock(address owner) external onlyRole(SLASHER_ROLE) {
        Node storage n = _requireNode(owner);
        ++n.openChallenges;
        emit NodeLocked(owner, n.openChallenges);
    }

    /// @notice Releases one challenge hold. Requirements: SLASHER_ROLE. Emits {NodeUnlocked}.
    function unlock(address owner) external onlyRole(SLASHER_ROLE) {
        Node storage n = _requireNode(owner);
        if (n.openChallenges == 0) revert RegistryNotLocked(owner);
        --n.openChallenges;
        emit NodeUnlocked(owner, n.openChallenges);
    }

    /// @notice Removes `rateBps` of the bond of `owner`; the challenger share goes to `beneficiary` (none if zero
    /// address), the rest is burned. Never more than the bond. Requirements: SLASHER_ROLE; rate <= 10_000.
    /// Emits {NodeSlashed}.
    function slash(address owner, uint16 rateBps, address beneficiary) external onlyRole(SLASHER_ROLE) returns (uint256 slashed) {
        Node storage n = _requireNode(owner);
        slashed = Math.mulDiv(n.bond, Math.min(rateBps, _BPS), _BPS);
        uint256 toBeneficiary = beneficiary == address(0) ? 0 : Math.mulDiv(slashed, params.challengerShareBps(), _BPS);
        uint256 burned = slashed - toBeneficiary;
        n.bond -= slashed;
        totalBonded -= slashed;
        totalSlashed += slashed;
        totalBurned += burned;
        if (toBeneficiary != 0) {
            payouts[beneficiary] += toBeneficiary;
            totalPayouts += toBeneficiary;
        }
        emit NodeSlashed(owner, rateBps, slashed, beneficiary, toBeneficiary, burned);
    }

    function _requireNode(address owner) private view returns (Node storage n) {
        n = _nodes[owner];
        if (!n.registered) revert RegistryNotRegistered(owner);
    }

    function _send(address to, uint256 amount) private {
        (bool ok,) = payable(to).call{value: amount}("");
        if (!ok) revert RegistryTransferFailed(to, amount);
    }
}
