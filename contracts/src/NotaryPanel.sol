// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {ReentrancyGuard} from "@openzeppelin/contracts/utils/ReentrancyGuard.sol";
import {Math} from "@openzeppelin/contracts/utils/math/Math.sol";
import {IParams} from "./IParams.sol";
import {INodeRegistry} from "./INodeRegistry.sol";
import {IContributionLedger} from "./IContributionLedger.sol";
import {INotaryPanel} from "./INotaryPanel.sol";

/// @title NotaryPanel
/// @notice Notaries bond the native coin, challenge claims, reveals and registrations, and rule by quorum.
/// Upheld: the node is slashed at the offence's rate (challenger share to the challenger, rest burned) and a
/// challenged claim is voided. Rejected: the challenger is slashed for a frivolous challenge (burned). No quorum
/// before the adjudication timeout: the challenge expires and nobody is slashed.
contract NotaryPanel is ReentrancyGuard, INotaryPanel {
    uint256 private constant _BPS = 10_000;

    struct Notary {
        uint256 bond;
        uint64 releaseAt;
        uint32 openChallenges;
        bool joined;
    }

    struct Challenge {
        Kind kind;
        Status status;
        address challenger;
        address node;
        uint64 epoch;
        uint64 deadline;
        uint16 votesUphold;
        uint16 votesReject;
    }

    IParams public immutable params;
    INodeRegistry public immutable registry;
    IContributionLedger public immutable ledger;

    mapping(address => Notary) private _notaries;
    Challenge[] private _challenges;
    mapping(bytes32 key => uint256 idPlusOne) private _active;
    mapping(uint256 id => mapping(address => bool)) public hasVoted;
    uint256 public totalNotaryBonds;
    uint256 public totalNotarySlashed;
    uint256 public notaryCount;

    constructor(IParams params_, INodeRegistry registry_, IContributionLedger ledger_) {
        params = params_;
        registry = registry_;
        ledger = ledger_;
    }

    function notaryOf(address a) external view returns (Notary memory) {
        return _notaries[a];
    }

    function challengeOf(uint256 id) external view returns (Challenge memory) {
        return _challenges[id];
    }

    function challengeCount() external view returns (uint256) {
        return _challenges.length;
    }

    /// @notice A notary bonded at least the minimum and not unbonding.
    function isBondedNotary(address a) public view returns (bool) {
        Notary storage n = _notaries[a];
        return n.joined && n.releaseAt == 0 && n.bond >= params.minNotaryBond();
    }

    /// @notice Joins the panel with msg.value as bond. Emits {NotaryJoined}.
    function join() external payable {
        if (_notaries[msg.sender].joined) revert PanelAlreadyNotary(msg.sender);
        uint256 minimum = params.minNotaryBond();
        if (msg.value < minimum) revert PanelBondTooLow(msg.value, minimum);
        _notaries[msg.sender] = Notary({bond: msg.value, releaseAt: 0, openChallenges: 0, joined: true});
        totalNotaryBonds += msg.value;
        ++notaryCount;
        emit NotaryJoined(msg.sender, msg.value);
    }

    /// @notice Starts unbonding; the notary can no longer challenge or vote. Emits {NotaryUnbondingRequested}.
    function requestUnbond() external {
        Notary storage n = _notaries[msg.sender];
        if (!n.joined) revert PanelNotBondedNotary(msg.sender);
        if (n.releaseAt != 0) revert PanelAlreadyUnbonding(msg.sender, n.releaseAt);
        n.releaseAt = uint64(block.timestamp) + params.unbondingDelay();
        emit NotaryUnbondingRequested(msg.sender, n.releaseAt);
    }

    /// @notice Withdraws the bond after the delay, when none of the notary's challenges is open.
    /// Emits {NotaryBondWithdrawn}.
    function withdrawBond() external nonReentrant {
        Notary storage n = _notaries[msg.sender];
        if (n.releaseAt == 0) revert PanelNotUnbonding(msg.sender);
        if (block.timestamp < n.releaseAt) revert PanelUnbondingNotOver(msg.sender, n.releaseAt, block.timestamp);
        if (n.openChallenges != 0) revert PanelNotaryBusy(msg.sender, n.openChallenges);
        uint256 amount = n.bond;
        totalNotaryBonds -= amount;
        delete _notaries[msg.sender];
        --notaryCount;
        emit NotaryBondWithdrawn(msg.sender, amount);
        (bool ok,) = payable(msg.sender).call{value: amount}("");
        if (!ok) revert PanelTransferFailed(msg.sender, amount);
    }

    /// @notice Opens a challenge. Claim and Reveal target the revealed claim of `node` in `epoch` (inside its
    /// challenge window); Registration targets the node's registration (`epoch` ignored). Requirements: bonded
    /// notary; one open challenge per target. Emits {ChallengeOpened}.
    function challenge(Kind kind, address node, uint64 epoch) external returns (uint256 id) {
        if (!isBondedNotary(msg.sender)) revert PanelNotBondedNotary(msg.sender);
        if (kind == Kind.Registration) epoch = 0;
        bytes32 key = keccak256(abi.encode(kind == Kind.Registration, node, epoch));
        if (_active[key] != 0) revert PanelChallengeExists(_active[key] - 1);
        if (!registry.isRegistered(node)) revert PanelNotRegistered(node);
        id = _challenges.length;
        _challenges.push(
            Challenge({
                kind: kind,
                status: Status.Open,
                challenger: msg.sender,
                node: node,
                epoch: epoch,
                deadline: uint64(block.timestamp) + params.adjudicationTimeout(),
                votesUphold: 0,
                votesReject: 0
            })
        );
        _active[key] = id + 1;
        ++_notaries[msg.sender].openChallenges;
        emit ChallengeOpened(id, kind, node, epoch, msg.sender);
        registry.lock(node);
        if (kind != Kind.Registration) ledger.openChallenge(epoch, node);
    }

    /// @notice Votes on an open challenge; the side reaching the quorum first decides. Requirements: bonded
    /// notary; not the challenger or the accused; one vote per notary; before the deadline. Emits {VoteCast}
    /// and, on a decision, {ChallengeRuled}.
    function vote(uint256 id, bool uphold) external {
        if (!isBondedNotary(msg.sender)) revert PanelNotBondedNotary(msg.sender);
        Challenge storage c = _open(id);
        if (block.timestamp >= c.deadline) revert PanelVotingClosed(id, c.deadline);
        if (msg.sender == c.challenger || msg.sender == c.node) revert PanelConflictOfInterest(id, msg.sender);
        if (hasVoted[id][msg.sender]) revert PanelAlreadyVoted(id, msg.sender);
        hasVoted[id][msg.sender] = true;
        if (uphold) ++c.votesUphold;
        else ++c.votesReject;
        emit VoteCast(id, msg.sender, uphold);
        uint16 q = params.quorum();
        if (c.votesUphold >= q) _close(id, c, Status.Upheld);
        else if (c.votesReject >= q) _close(id, c, Status.Rejected);
    }

    /// @notice Closes a challenge that reached no quorum by its deadline; nobody is slashed. Emits {ChallengeRuled}.
    function expire(uint256 id) external {
        Challenge storage c = _open(id);
        if (block.timestamp < c.deadline) revert PanelVotingOpen(id, c.deadline);
        _close(id, c, Status.Expired);
    }

    function _open(uint256 id) private view returns (Challenge storage c) {
        if (id >= _challenges.length || _challenges[id].status != Status.Open) revert PanelChallengeNotOpen(id);
        c = _challenges[id];
    }

    function _close(uint256 id, Challenge storage c, Status status) private {
        c.status = status;
        delete _active[keccak256(abi.encode(c.kind == Kind.Registration, c.node, c.epoch))];
        Notary storage challenger = _notaries[c.challenger];
        --challenger.openChallenges;
        uint256 slashed = 0;
        if (status == Status.Rejected) {
            uint16 rate = params.slashRateBps(IParams.Offence.FrivolousChallenge);
            slashed = Math.mulDiv(challenger.bond, rate, _BPS);
            challenger.bond -= slashed;
            totalNotaryBonds -= slashed;
            totalNotarySlashed += slashed; // burned: stays locked here, no function moves it
            emit NotarySlashed(c.challenger, rate, slashed);
        }
        emit ChallengeRuled(id, status, slashed);
        registry.unlock(c.node);
        if (c.kind != Kind.Registration) ledger.closeChallenge(c.epoch, c.node, status == Status.Upheld);
        if (status == Status.Upheld) {
            IParams.Offence offence = c.kind == Kind.Claim
                ? IParams.Offence.BadClaim
                : (c.kind == Kind.Reveal ? IParams.Offence.BadReveal : IParams.Offence.BadRegistration);
            registry.slash(c.node, params.slashRateBps(offence), c.challenger);
        }
    }
}
