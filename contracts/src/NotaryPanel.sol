// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {ReentrancyGuard} from "@openzeppelin/contracts/utils/ReentrancyGuard.sol";
import {Math} from "@openzeppelin/contracts/utils/math/Math.sol";
import {IParams} from "./IParams.sol";
import {INodeRegistry} from "./INodeRegistry.sol";
import {IContributionLedger} from "./IContributionLedger.sol";
import {INotaryPanel} from "./INotaryPanel.sol";

/// @title NotaryPanel
/// @notice Notaries bond the native coin and challenge claims, reveals and registrations with a deposit. Each
/// challenge is judged by a panel drawn by bond from the hash of a block mined after the challenge, so neither the
/// challenger nor a cartel picks its judges; a side wins with a quorum of the panel's stake and a minimum of votes.
/// Upheld: the node is slashed at the offence's rate (challenger share to the challenger, rest burned), a
/// challenged claim is voided and the deposit comes back; a heavy slash first waits `slashDelay`, during which the
/// accused may appeal once to a fresh panel twice as large whose ruling is final. Rejected: the deposit is burned
/// and the challenger's notary bond is slashed for a frivolous challenge. No ruling by the deadline: the challenger
/// loses the expiry penalty of its deposit and the node pays nothing.
/// @dev Solvency: balance == totalNotaryBonds + totalNotarySlashed + totalChallengeBonds + totalPayouts + totalBurned.
/// Every coin that leaves is a pull payment (withdrawBond, withdrawPayout).
contract NotaryPanel is ReentrancyGuard, INotaryPanel {
    uint256 private constant _BPS = 10_000;
    /// @notice Offences slashed at this rate or more wait `slashDelay` and can be appealed; lighter ones execute at
    /// the ruling.
    uint16 public constant HEAVY_SLASH_BPS = 5_000;

    struct Notary {
        uint256 bond;
        uint64 releaseAt;
        uint32 openChallenges;
        bool joined;
    }

    struct Challenge {
        Kind kind;
        Status status;
        uint8 round; // 0: the first panel; 1: the appeal panel
        bool drawn; // the current round's panel is drawn
        address challenger;
        address node;
        uint64 epoch;
        uint64 deadline; // voting of the current round closes
        uint64 drawBlock; // its hash seeds the current round's draw
        uint64 executeAfter; // Upheld: end of the appeal window
        uint16 slashRateBps; // fixed at the ruling
        uint16 votesUphold;
        uint16 votesReject;
        uint256 stakeUphold;
        uint256 stakeReject;
        uint256 panelBond; // weight of the current round's panel
        uint256 bond; // the challenger's deposit, held until the challenge is final
        uint256 appealBond; // the accused's appeal deposit, held until the challenge is final
    }

    IParams public immutable params;
    INodeRegistry public immutable registry;
    IContributionLedger public immutable ledger;

    mapping(address => Notary) private _notaries;
    /// @dev Joined notaries not unbonding: the draw walks it. Swap-and-pop on requestUnbond.
    address[] private _roster;
    mapping(address => uint256) private _rosterSlot; // index + 1
    Challenge[] private _challenges;
    mapping(bytes32 key => uint256 idPlusOne) private _active;
    mapping(uint256 id => mapping(address => Seat)) private _seats;
    mapping(uint256 id => mapping(uint8 round => address[])) private _panels;
    mapping(uint256 id => mapping(address => bool)) public hasVoted;
    mapping(address account => uint256) public payouts;
    uint256 public totalNotaryBonds;
    uint256 public totalNotarySlashed;
    /// @notice Challenge and appeal deposits of challenges not yet final.
    uint256 public totalChallengeBonds;
    /// @notice Deposits owed back to challengers and appellants.
    uint256 public totalPayouts;
    /// @notice Deposits burned (rejected challenges, failed appeals, expiry penalties): locked here for ever.
    uint256 public totalBurned;
    uint256 public notaryCount;

    constructor(IParams params_, INodeRegistry registry_, IContributionLedger ledger_) {
        params = params_;
        registry = registry_;
        ledger = ledger_;
    }

    // ---- views ----

    function notaryOf(address a) external view returns (Notary memory) {
        return _notaries[a];
    }

    function challengeOf(uint256 id) external view returns (Challenge memory) {
        return _get(id);
    }

    function challengeCount() external view returns (uint256) {
        return _challenges.length;
    }

    /// @notice The panel drawn for `round` (0 first, 1 appeal) of challenge `id`; empty before the draw.
    function panelOf(uint256 id, uint8 round) external view returns (address[] memory) {
        return _panels[id][round];
    }

    /// @notice The seat of `a` on a panel of challenge `id`, if drawn.
    function seatOf(uint256 id, address a) external view returns (Seat memory) {
        return _seats[id][a];
    }

    /// @notice Notaries the draw considers (joined, not unbonding).
    function rosterSize() external view returns (uint256) {
        return _roster.length;
    }

    /// @notice A notary bonded at least the minimum and not unbonding.
    function isBondedNotary(address a) public view returns (bool) {
        Notary storage n = _notaries[a];
        return n.joined && n.releaseAt == 0 && n.bond >= params.minNotaryBond();
    }

    // ---- notaries ----

    /// @notice Joins the panel with msg.value as bond. Emits {NotaryJoined}.
    function join() external payable {
        if (_notaries[msg.sender].joined) revert PanelAlreadyNotary(msg.sender);
        uint256 minimum = params.minNotaryBond();
        if (msg.value < minimum) revert PanelBondTooLow(msg.value, minimum);
        _notaries[msg.sender] = Notary({bond: msg.value, releaseAt: 0, openChallenges: 0, joined: true});
        _roster.push(msg.sender);
        _rosterSlot[msg.sender] = _roster.length;
        totalNotaryBonds += msg.value;
        ++notaryCount;
        emit NotaryJoined(msg.sender, msg.value);
    }

    /// @notice Starts unbonding; the notary can no longer challenge, be drawn or vote. Emits {NotaryUnbondingRequested}.
    function requestUnbond() external {
        Notary storage n = _notaries[msg.sender];
        if (!n.joined) revert PanelNotBondedNotary(msg.sender);
        if (n.releaseAt != 0) revert PanelAlreadyUnbonding(msg.sender, n.releaseAt);
        n.releaseAt = uint64(block.timestamp) + params.unbondingDelay();
        // Leaves the roster now rather than at withdrawal: an unbonding notary cannot be drawn anyway.
        uint256 slot = _rosterSlot[msg.sender];
        address last = _roster[_roster.length - 1];
        _roster[slot - 1] = last;
        _rosterSlot[last] = slot;
        _roster.pop();
        delete _rosterSlot[msg.sender];
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
        _send(msg.sender, amount);
    }

    /// @notice Slashes a node that committed a claim and never revealed it, once, after the reveal window, at the
    /// no-reveal rate; the reporter gets the challenger share. The rule is mechanical (the ledger checks it), and it
    /// runs here so that the panel is the only holder of the registry's slasher role. Emits {NoShowReported}.
    function reportNoShow(uint64 epoch, address node) external {
        ledger.markNoShow(epoch, node);
        uint256 slashed = registry.slash(node, params.slashRateBps(IParams.Offence.NoReveal), msg.sender);
        emit NoShowReported(epoch, node, msg.sender, slashed);
    }

    /// @notice Withdraws the deposits owed back to the sender. Emits {PayoutWithdrawn}.
    function withdrawPayout() external nonReentrant {
        uint256 amount = payouts[msg.sender];
        if (amount == 0) revert PanelNothingToWithdraw(msg.sender);
        payouts[msg.sender] = 0;
        totalPayouts -= amount;
        emit PayoutWithdrawn(msg.sender, amount);
        _send(msg.sender, amount);
    }

    // ---- challenges ----

    /// @notice Opens a challenge with msg.value as deposit. Claim and Reveal target the revealed claim of `node` in
    /// `epoch` (inside its challenge window); Round the roots leader `node` committed for `epoch` (inside the same
    /// window); Settlement the settlement root `node` posted for `epoch` (before it is finalized); Registration the
    /// node's registration (`epoch` ignored). The panel is drawn by {draw} from the hash of the next block. Requirements: bonded notary; deposit at least
    /// `challengeBond`; one open challenge per target; not the sender's own node. Emits {ChallengeOpened}.
    function challenge(Kind kind, address node, uint64 epoch) external payable returns (uint256 id) {
        if (!isBondedNotary(msg.sender)) revert PanelNotBondedNotary(msg.sender);
        uint256 required = params.challengeBond();
        if (msg.value < required) revert PanelChallengeBondTooLow(msg.value, required);
        if (kind == Kind.Registration) epoch = 0;
        bytes32 key = _key(kind, node, epoch);
        if (_active[key] != 0) revert PanelChallengeExists(_active[key] - 1);
        if (!registry.isRegistered(node)) revert PanelNotRegistered(node);
        id = _challenges.length;
        if (node == msg.sender) revert PanelConflictOfInterest(id, msg.sender);
        Challenge storage c = _challenges.push();
        c.kind = kind;
        c.status = Status.Open;
        c.challenger = msg.sender;
        c.node = node;
        c.epoch = epoch;
        c.deadline = uint64(block.timestamp) + params.adjudicationTimeout();
        // The hash of a block not yet mined: the challenger cannot know its panel when it challenges.
        c.drawBlock = uint64(block.number + 1);
        c.bond = msg.value; // all of it is at stake, not only the minimum
        _active[key] = id + 1;
        totalChallengeBonds += msg.value;
        ++_notaries[msg.sender].openChallenges;
        emit ChallengeOpened(id, kind, node, epoch, msg.sender, msg.value, c.drawBlock);
        registry.lock(node);
        if (kind == Kind.Round) ledger.openRoundChallenge(epoch, node);
        else if (kind == Kind.Settlement) ledger.openSettlementChallenge(epoch, node);
        else if (kind != Kind.Registration) ledger.openChallenge(epoch, node);
    }

    /// @notice Draws the panel of the current round (anyone may call): `panelSize` notaries, twice as many for an
    /// appeal, without replacement and with probability proportional to bond, from the bonded notaries other than
    /// the challenger, the accused and an earlier panel of this challenge; all of them when fewer are eligible.
    /// Seed: keccak256(blockhash(drawBlock), id). When that hash is gone (over 256 blocks ago) the draw is moved to
    /// the next block instead. Requirements: Open or Appealed, not drawn, before the deadline, after drawBlock.
    /// Emits {PanelDrawn} or {PanelDrawRescheduled}.
    function draw(uint256 id) external {
        Challenge storage c = _voting(id);
        if (c.drawn) revert PanelAlreadyDrawn(id, c.round);
        if (block.timestamp >= c.deadline) revert PanelVotingClosed(id, c.deadline);
        if (block.number <= c.drawBlock) revert PanelDrawTooEarly(id, c.drawBlock, block.number);
        bytes32 hash = blockhash(c.drawBlock);
        if (hash == bytes32(0)) {
            c.drawBlock = uint64(block.number + 1);
            emit PanelDrawRescheduled(id, c.drawBlock);
            return;
        }
        _drawPanel(id, c, keccak256(abi.encode(hash, id)), uint256(params.panelSize()) << c.round);
    }

    /// @notice Votes on the current round; a side decides when its votes hold `quorumBps` of the panel's bond and
    /// number at least `minVotes`. Requirements: panel drawn; before the deadline; not a party; drawn for this
    /// round; still a bonded notary; one vote each. Emits {VoteCast} and, on a decision, {ChallengeRuled}.
    function vote(uint256 id, bool uphold) external {
        Challenge storage c = _voting(id);
        if (!c.drawn) revert PanelNotDrawn(id, c.drawBlock);
        if (block.timestamp >= c.deadline) revert PanelVotingClosed(id, c.deadline);
        if (msg.sender == c.challenger || msg.sender == c.node) revert PanelConflictOfInterest(id, msg.sender);
        Seat memory seat = _seats[id][msg.sender];
        if (!seat.seated || seat.round != c.round) revert PanelNotPanelist(id, msg.sender);
        if (!isBondedNotary(msg.sender)) revert PanelNotBondedNotary(msg.sender);
        if (hasVoted[id][msg.sender]) revert PanelAlreadyVoted(id, msg.sender);
        hasVoted[id][msg.sender] = true;
        // Weight is the bond at the draw, so the panel's total cannot move under a vote in progress.
        if (uphold) {
            ++c.votesUphold;
            c.stakeUphold += seat.weight;
        } else {
            ++c.votesReject;
            c.stakeReject += seat.weight;
        }
        emit VoteCast(id, msg.sender, uphold, seat.weight);
        if (_carries(c.votesUphold, c.stakeUphold, c.panelBond)) _uphold(id, c);
        else if (_carries(c.votesReject, c.stakeReject, c.panelBond)) _reject(id, c);
    }

    /// @notice Closes a first-round challenge that reached no ruling by its deadline: the challenger loses
    /// `expiryPenaltyBps` of its deposit (burned, the rest owed back); the node pays nothing and is released.
    /// Requirements: Open; deadline passed. Emits {ChallengeRuled} and {DepositSettled}.
    function expire(uint256 id) external {
        Challenge storage c = _get(id);
        if (c.status != Status.Open) revert PanelChallengeNotOpen(id);
        if (block.timestamp < c.deadline) revert PanelVotingOpen(id, c.deadline);
        c.status = Status.Expired;
        emit ChallengeRuled(id, Status.Expired, 0);
        _settleDeposit(id, c.challenger, c.bond, params.expiryPenaltyBps());
        _release(c, false);
    }

    /// @notice Appeals an upheld heavy slash (the accused node, once, before it executes) with a deposit of twice
    /// `challengeBond`: the challenge re-opens for a fresh panel of 2 * panelSize notaries, none from the first
    /// panel, whose ruling is final. Requirements: Upheld; sender is the accused; before executeAfter; deposit.
    /// Emits {ChallengeAppealed}.
    function appeal(uint256 id) external payable {
        Challenge storage c = _get(id);
        // Only a first-round ruling is ever Upheld, so a challenge is appealed at most once.
        if (c.status != Status.Upheld) revert PanelNotAppealable(id, c.status);
        if (msg.sender != c.node) revert PanelNotAccused(id, msg.sender);
        if (block.timestamp >= c.executeAfter) revert PanelAppealClosed(id, c.executeAfter);
        uint256 required = 2 * params.challengeBond();
        if (msg.value < required) revert PanelChallengeBondTooLow(msg.value, required);
        c.status = Status.Appealed;
        c.round = 1;
        c.drawn = false;
        c.drawBlock = uint64(block.number + 1);
        c.deadline = uint64(block.timestamp) + params.adjudicationTimeout();
        (c.votesUphold, c.votesReject, c.stakeUphold, c.stakeReject, c.panelBond) = (0, 0, 0, 0, 0);
        c.appealBond = msg.value;
        totalChallengeBonds += msg.value;
        emit ChallengeAppealed(id, msg.sender, msg.value, c.drawBlock, c.deadline);
    }

    /// @notice Applies an upheld heavy slash once its delay is over, or once an appeal has reached no ruling by
    /// its deadline (the first ruling stands; the appellant loses the expiry penalty of its deposit). Anyone may
    /// call. The claim is voided, the node slashed, the deposit owed back to the challenger.
    /// Emits {ChallengeExecuted}.
    function execute(uint256 id) external {
        Challenge storage c = _get(id);
        if (c.status == Status.Upheld) {
            if (block.timestamp < c.executeAfter) revert PanelSlashDelayNotOver(id, c.executeAfter, block.timestamp);
        } else if (c.status == Status.Appealed) {
            if (block.timestamp < c.deadline) revert PanelVotingOpen(id, c.deadline);
            _settleDeposit(id, c.node, c.appealBond, params.expiryPenaltyBps());
        } else {
            revert PanelNotExecutable(id, c.status);
        }
        _execute(id, c);
    }

    // ---- internals ----

    /// @dev Weighted draw without replacement over the roster, all in memory: one pass over the roster (cold storage
    /// reads) and, per pick, a walk over the candidates left, so O(roster * seats). Measured on anvil, a 32-seat draw
    /// costs about 2.2M gas plus 11.6k per roster notary (3.3M at 100, 5.6M at 300); an appeal draw of 64 seats
    /// over 1,000 notaries would need about 20M. This project's panels are far smaller; past a few hundred notaries,
    /// keep a sum tree of bonds instead of walking.
    function _drawPanel(uint256 id, Challenge storage c, bytes32 seed, uint256 size) private {
        (address[] memory candidates, uint256[] memory weights, uint256 m, uint256 total) = _eligible(id, c);
        (address[] memory panel, uint256[] memory picked) = _sample(candidates, weights, m, total, seed, size);
        uint8 round = c.round;
        uint256 panelBond = 0;
        for (uint256 k = 0; k < panel.length; ++k) {
            _seats[id][panel[k]] = Seat({weight: picked[k], round: round, seated: true});
            panelBond += picked[k];
        }
        c.drawn = true;
        c.panelBond = panelBond;
        _panels[id][round] = panel;
        emit PanelDrawn(id, round, panel, panelBond);
    }

    /// @dev The first `m` entries: roster notaries bonded at least the minimum, not a party, not on an earlier
    /// panel of this challenge, with their bonds; `total` is the sum of those bonds.
    function _eligible(uint256 id, Challenge storage c)
        private
        view
        returns (address[] memory candidates, uint256[] memory weights, uint256 m, uint256 total)
    {
        uint256 minimum = params.minNotaryBond();
        uint256 n = _roster.length;
        (address challenger, address node) = (c.challenger, c.node);
        candidates = new address[](n);
        weights = new uint256[](n);
        for (uint256 i = 0; i < n; ++i) {
            address a = _roster[i];
            uint256 bond = _notaries[a].bond;
            if (bond == 0 || bond < minimum || a == challenger || a == node || _seats[id][a].seated) continue;
            (candidates[m], weights[m]) = (a, bond);
            total += bond;
            ++m;
        }
    }

    /// @dev Picks min(size, m) of the first `m` candidates without replacement, each with probability proportional
    /// to its weight among those left (a cumulative-sum walk); returns them with their weights.
    function _sample(address[] memory candidates, uint256[] memory weights, uint256 m, uint256 total, bytes32 seed, uint256 size)
        private
        pure
        returns (address[] memory panel, uint256[] memory picked)
    {
        panel = new address[](Math.min(size, m));
        picked = new uint256[](panel.length);
        for (uint256 k = 0; k < panel.length; ++k) {
            uint256 r = uint256(keccak256(abi.encode(seed, k))) % total;
            uint256 j = 0;
            while (r >= weights[j]) r -= weights[j++]; // ends inside the first m: r < total = sum of those weights
            (panel[k], picked[k]) = (candidates[j], weights[j]);
            total -= weights[j];
            --m;
            (candidates[j], weights[j]) = (candidates[m], weights[m]); // the picked one leaves the first m
        }
    }

    function _carries(uint16 votes, uint256 stake, uint256 panelBond) private view returns (bool) {
        return votes >= params.minVotes() && stake * _BPS >= uint256(params.quorumBps()) * panelBond;
    }

    function _uphold(uint256 id, Challenge storage c) private {
        if (c.round == 0) c.slashRateBps = params.slashRateBps(_offence(c.kind)); // an appeal confirms, not re-rates
        if (c.round == 0 && c.slashRateBps >= HEAVY_SLASH_BPS) {
            c.status = Status.Upheld;
            c.executeAfter = uint64(block.timestamp) + params.slashDelay();
            emit ChallengeRuled(id, Status.Upheld, 0);
            emit ChallengeSlashDelayed(id, c.executeAfter);
            return;
        }
        emit ChallengeRuled(id, Status.Upheld, 0);
        // A light offence, or an appeal panel confirming the first ruling: final now; a failed appeal's deposit burns.
        if (c.round == 1) _settleDeposit(id, c.node, c.appealBond, _BPS);
        _execute(id, c);
    }

    function _reject(uint256 id, Challenge storage c) private {
        c.status = Status.Rejected;
        Notary storage challenger = _notaries[c.challenger];
        uint16 rate = params.slashRateBps(IParams.Offence.FrivolousChallenge);
        uint256 slashed = Math.mulDiv(challenger.bond, rate, _BPS);
        challenger.bond -= slashed;
        totalNotaryBonds -= slashed;
        totalNotarySlashed += slashed; // burned: stays locked here, no function moves it
        emit NotarySlashed(c.challenger, rate, slashed);
        emit ChallengeRuled(id, Status.Rejected, slashed);
        _settleDeposit(id, c.challenger, c.bond, _BPS);
        if (c.round == 1) _settleDeposit(id, c.node, c.appealBond, 0); // the appeal reversed the ruling
        _release(c, false);
    }

    /// @dev Final upheld ruling: the deposit is owed back, the claim voided and the node slashed.
    function _execute(uint256 id, Challenge storage c) private {
        c.status = Status.Executed;
        _settleDeposit(id, c.challenger, c.bond, 0);
        _release(c, true);
        uint256 slashed = registry.slash(c.node, c.slashRateBps, c.challenger);
        emit ChallengeExecuted(id, c.node, slashed);
    }

    /// @dev Ends the holds a challenge keeps until it is final: the target, the challenger's notary bond, the
    /// node's bond and the epoch's settlement.
    function _release(Challenge storage c, bool upheld) private {
        delete _active[_key(c.kind, c.node, c.epoch)];
        --_notaries[c.challenger].openChallenges;
        registry.unlock(c.node);
        if (c.kind == Kind.Round) ledger.closeRoundChallenge(c.epoch, c.node, upheld);
        else if (c.kind == Kind.Settlement) ledger.closeSettlementChallenge(c.epoch, c.node, upheld);
        else if (c.kind != Kind.Registration) ledger.closeChallenge(c.epoch, c.node, upheld);
    }

    /// @dev Moves a deposit out of the held total: `burnBps` of it burned, the rest owed to `depositor`.
    function _settleDeposit(uint256 id, address depositor, uint256 amount, uint256 burnBps) private {
        uint256 burned = Math.mulDiv(amount, burnBps, _BPS);
        uint256 returned = amount - burned;
        totalChallengeBonds -= amount;
        totalBurned += burned;
        if (returned != 0) {
            payouts[depositor] += returned;
            totalPayouts += returned;
        }
        emit DepositSettled(id, depositor, returned, burned);
    }

    function _get(uint256 id) private view returns (Challenge storage) {
        if (id >= _challenges.length) revert PanelUnknownChallenge(id);
        return _challenges[id];
    }

    /// @dev A challenge whose current round is drawing or voting.
    function _voting(uint256 id) private view returns (Challenge storage c) {
        c = _get(id);
        if (c.status != Status.Open && c.status != Status.Appealed) revert PanelChallengeNotOpen(id);
    }

    function _key(Kind kind, address node, uint64 epoch) private pure returns (bytes32) {
        // Claim and Reveal share a target (the node's claim of the epoch); Registration and Round have their own.
        uint8 target = kind == Kind.Registration ? 1 : kind == Kind.Round ? 2 : kind == Kind.Settlement ? 3 : 0;
        return keccak256(abi.encode(target, node, epoch));
    }

    function _offence(Kind kind) private pure returns (IParams.Offence) {
        // A leader whose root vouches for work that was not done made a bad claim on others' behalf.
        if (kind == Kind.Claim || kind == Kind.Round || kind == Kind.Settlement) return IParams.Offence.BadClaim;
        return kind == Kind.Reveal ? IParams.Offence.BadReveal : IParams.Offence.BadRegistration;
    }

    function _send(address to, uint256 amount) private {
        (bool ok,) = payable(to).call{value: amount}("");
        if (!ok) revert PanelTransferFailed(to, amount);
    }
}
