// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {IParams} from "./IParams.sol";

/// @title Params
/// @notice Tier multipliers, epoch schedule, windows, emission caps, slashing rates, bonds, and the notary panel's
/// rules (panel size, stake quorum, minimum votes) and challenge terms (challenge bond, expiry penalty, slash delay).
/// Only GOVERNOR_ROLE changes them; every change emits an event. Changes apply to actions after the change;
/// epochs already settled are never recomputed. The deployer sets the genesis values, then {seal} hands the governor
/// role to a timelock for good; from then on a change that raises a bond or the emission moves it at most
/// MAX_STEP_FACTOR times per change, so even a captured governor needs many timelocked steps to price nodes out.
contract Params is AccessControl, IParams {
    bytes32 public constant GOVERNOR_ROLE = keccak256("GOVERNOR_ROLE");
    uint256 public constant TIER_COUNT = 5;
    uint256 public constant BPS = 10_000;
    uint8 public constant MAX_PANEL_SIZE = 32;
    uint64 public constant MAX_SLASH_DELAY = 30 days;

    /// @dev A run of epochs of one length; a length change starts a new segment at the next epoch boundary, so
    /// epoch numbers already handed out never move.
    struct Segment {
        uint64 firstEpoch;
        uint64 startTime;
        uint64 length;
    }

    Segment[] private _segments;
    uint32[TIER_COUNT] private _tierMultiplierBps;
    uint16[5] private _slashRateBps;

    uint64 public commitWindow = 600;
    uint64 public revealWindow = 300;
    uint64 public challengeWindow = 600;
    uint64 public adjudicationTimeout = 3600;
    uint64 public unbondingDelay = 1 days;
    uint256 public epochPool = 1_000 ether;
    uint256 public dailyCap = 100_000 ether;
    uint256 public minNodeBond = 1 ether;
    uint256 public minNotaryBond = 5 ether;
    uint16 public challengerShareBps = 5_000;
    /// @notice The most tokens one claim may carry: the network's tokens per gradient (steps x batch x sequence).
    uint64 public maxTokensPerClaim = 1 << 24;
    /// @notice The most one node may be credited in one epoch, as a share of the epoch's pool.
    uint16 public maxRewardShareBps = 2_000;
    /// @notice Set by {seal}: the governor is the timelock and the step bounds apply.
    bool public isSealed;

    /// @dev A bond or emission increase may at most double the value per change once sealed.
    uint256 public constant MAX_STEP_FACTOR = 2;
    /// @dev Never more than half of a slashed bond to its challenger: slashing must not be a business.
    uint16 public constant MAX_CHALLENGER_SHARE_BPS = 5_000;
    /// @dev Notaries drawn per challenge (an appeal draws twice as many).
    uint8 public panelSize = 5;
    /// @dev Share of the drawn panel's bond a side needs. Two thirds rounded down, so 2 of 3 equal bonds decide.
    uint16 public quorumBps = 6_666;
    /// @dev Votes a side needs besides the stake quorum, so one heavy notary cannot decide alone.
    uint16 public minVotes = 2;
    /// @dev What a challenger deposits (native coin); an appeal deposits twice this.
    uint256 public challengeBond = 1 ether;
    /// @dev Share of the deposit burned when the ruling asked for does not come by the deadline.
    uint16 public expiryPenaltyBps = 1_000;
    /// @dev Time between an upheld heavy slash and its execution, in which the accused may appeal.
    uint64 public slashDelay = 1 days;

    /// @param governor receives GOVERNOR_ROLE and DEFAULT_ADMIN_ROLE.
    /// @param multipliersBps the five tier multipliers in basis points (3.0 = 30_000), in the order
    /// claude_session, gpu_compute, storage_node, cpu_only, mobile_light.
    /// @param epochLength_ length of the first epochs (seconds, dividing a day): epoch 0 starts at deployment, so a
    /// testnet with short epochs does not wait out a long first epoch.
    constructor(address governor, uint32[TIER_COUNT] memory multipliersBps, uint64 epochLength_) {
        if (epochLength_ == 0 || 1 days % epochLength_ != 0) revert ParamsInvalidEpochLength(epochLength_);
        _grantRole(DEFAULT_ADMIN_ROLE, governor);
        _grantRole(GOVERNOR_ROLE, governor);
        for (uint256 t = 0; t < TIER_COUNT; ++t) _setTierMultiplier(t, multipliersBps[t]);
        _segments.push(Segment({firstEpoch: 0, startTime: uint64(block.timestamp), length: epochLength_}));
        emit EpochLengthChanged(0, uint64(block.timestamp), epochLength_);
        _slashRateBps = [uint16(5_000), 5_000, 10_000, 1_000, 1_000];
    }

    /// @notice Multiplier of `tier` in basis points.
    function tierMultiplierBps(uint256 tier) external view returns (uint32) {
        if (tier >= TIER_COUNT) revert ParamsInvalidTier(tier);
        return _tierMultiplierBps[tier];
    }

    /// @notice Fraction of a bond removed for `offence`, in basis points.
    function slashRateBps(Offence offence) external view returns (uint16) {
        return _slashRateBps[uint256(offence)];
    }

    /// @notice Epoch containing `timestamp`.
    function epochAt(uint256 timestamp) public view returns (uint64) {
        for (uint256 i = _segments.length; i > 0; --i) {
            Segment memory s = _segments[i - 1];
            if (timestamp >= s.startTime) return s.firstEpoch + uint64((timestamp - s.startTime) / s.length);
        }
        revert ParamsBeforeGenesis(timestamp, _segments[0].startTime);
    }

    /// @notice Epoch containing the current block.
    function currentEpoch() public view returns (uint64) {
        return epochAt(block.timestamp);
    }

    /// @notice Start time of `epoch`.
    function epochStart(uint64 epoch) public view returns (uint64) {
        for (uint256 i = _segments.length; i > 0; --i) {
            Segment memory s = _segments[i - 1];
            if (epoch >= s.firstEpoch) return s.startTime + (epoch - s.firstEpoch) * s.length;
        }
        return _segments[0].startTime; // unreachable: the first segment starts at epoch 0
    }

    /// @notice Length of the epochs now running.
    function epochLength() external view returns (uint64) {
        return _segments[_segments.length - 1].length;
    }

    /// @notice Sets the multiplier of `tier`. Requirements: GOVERNOR_ROLE; 0 < multiplier <= 100_000.
    /// Emits {TierMultiplierChanged}.
    function setTierMultiplier(uint256 tier, uint32 multiplierBps) external onlyRole(GOVERNOR_ROLE) {
        _setTierMultiplier(tier, multiplierBps);
    }

    /// @notice Changes the epoch length from the next epoch on. Requirements: GOVERNOR_ROLE; the length
    /// divides a day, so epochs never straddle a day of the daily cap. Emits {EpochLengthChanged}.
    function setEpochLength(uint64 length) external onlyRole(GOVERNOR_ROLE) {
        if (length == 0 || 1 days % length != 0) revert ParamsInvalidEpochLength(length);
        uint64 next = currentEpoch() + 1;
        uint64 start = epochStart(next);
        Segment storage last = _segments[_segments.length - 1];
        if (last.firstEpoch == next) last.length = length;
        else _segments.push(Segment({firstEpoch: next, startTime: start, length: length}));
        emit EpochLengthChanged(next, start, length);
    }

    /// @notice Sets the windows (seconds). Requirements: GOVERNOR_ROLE; all non-zero; unbonding delay at least
    /// commit + reveal + challenge + adjudication, so a node cannot leave before its claims can be challenged.
    /// Emits {WindowsChanged}.
    function setWindows(uint64 commit, uint64 reveal, uint64 challenge, uint64 adjudication, uint64 unbonding)
        external
        onlyRole(GOVERNOR_ROLE)
    {
        if (commit == 0 || reveal == 0 || challenge == 0 || adjudication == 0 || unbonding < uint256(commit) + reveal + challenge + adjudication) {
            revert ParamsInvalidWindows(commit, reveal, challenge, adjudication, unbonding);
        }
        (commitWindow, revealWindow, challengeWindow, adjudicationTimeout, unbondingDelay) = (commit, reveal, challenge, adjudication, unbonding);
        emit WindowsChanged(commit, reveal, challenge, adjudication, unbonding);
    }

    /// @notice Hands GOVERNOR_ROLE and DEFAULT_ADMIN_ROLE to `governor` (the timelock) and drops the caller's; the
    /// step bounds apply from now on. Requirements: DEFAULT_ADMIN_ROLE; once. Emits {Sealed}.
    function seal(address governor) external onlyRole(DEFAULT_ADMIN_ROLE) {
        if (isSealed || governor == address(0)) revert ParamsAlreadySealed();
        isSealed = true;
        _grantRole(GOVERNOR_ROLE, governor);
        _grantRole(DEFAULT_ADMIN_ROLE, governor);
        if (governor != msg.sender) {
            _revokeRole(GOVERNOR_ROLE, msg.sender);
            _revokeRole(DEFAULT_ADMIN_ROLE, msg.sender);
        }
        emit Sealed(governor);
    }

    /// @notice Sets the per-claim token cap and the per-node share of an epoch's pool. Requirements: GOVERNOR_ROLE;
    /// tokens > 0; 100 <= share <= 10_000. Emits {ClaimCapsChanged}.
    function setClaimCaps(uint64 tokens, uint16 shareBps) external onlyRole(GOVERNOR_ROLE) {
        if (tokens == 0 || shareBps < 100 || shareBps > BPS) revert ParamsInvalidClaimCaps(tokens, shareBps);
        _checkStep(maxTokensPerClaim, tokens);
        (maxTokensPerClaim, maxRewardShareBps) = (tokens, shareBps);
        emit ClaimCapsChanged(tokens, shareBps);
    }

    /// @notice Sets the reward pool per epoch and the daily emission cap. Requirements: GOVERNOR_ROLE;
    /// pool <= cap; once sealed, each at most doubles. Emits {EmissionChanged}.
    function setEmission(uint256 pool, uint256 cap) external onlyRole(GOVERNOR_ROLE) {
        if (pool > cap) revert ParamsInvalidEmission(pool, cap);
        _checkStep(epochPool, pool);
        _checkStep(dailyCap, cap);
        (epochPool, dailyCap) = (pool, cap);
        emit EmissionChanged(pool, cap);
    }

    /// @notice Sets the slashing rate of `offence`. Requirements: GOVERNOR_ROLE; 1_000 <= rate <= 10_000.
    /// Emits {SlashRateChanged}.
    function setSlashRate(Offence offence, uint16 rateBps) external onlyRole(GOVERNOR_ROLE) {
        if (rateBps < 1_000 || rateBps > BPS) revert ParamsInvalidSlashRate(offence, rateBps);
        _slashRateBps[uint256(offence)] = rateBps;
        emit SlashRateChanged(offence, rateBps);
    }

    /// @notice Sets the minimum bonds. Nodes registered earlier keep the minimum of their registration when it is
    /// raised (see NodeRegistry.isActive). Requirements: GOVERNOR_ROLE; non-zero; once sealed, each at most doubles.
    /// Emits {MinimumBondsChanged}.
    function setMinimumBonds(uint256 nodeBond, uint256 notaryBond) external onlyRole(GOVERNOR_ROLE) {
        if (nodeBond == 0 || notaryBond == 0) revert ParamsInvalidBonds(nodeBond, notaryBond);
        _checkStep(minNodeBond, nodeBond);
        _checkStep(minNotaryBond, notaryBond);
        (minNodeBond, minNotaryBond) = (nodeBond, notaryBond);
        emit MinimumBondsChanged(nodeBond, notaryBond);
    }

    /// @notice Sets the share of a slashed node bond paid to the challenger (the rest is burned).
    /// Requirements: GOVERNOR_ROLE; share <= MAX_CHALLENGER_SHARE_BPS. Emits {ChallengerShareChanged}.
    function setChallengerShare(uint16 shareBps) external onlyRole(GOVERNOR_ROLE) {
        if (shareBps > MAX_CHALLENGER_SHARE_BPS) revert ParamsInvalidBps(shareBps);
        challengerShareBps = shareBps;
        emit ChallengerShareChanged(shareBps);
    }

    /// @notice Sets how a challenge is decided: `size` notaries drawn by bond, and a side wins with `quorumBps_` of
    /// the panel's bond and at least `minVotes_` votes. Requirements: GOVERNOR_ROLE; 1 <= size <= 32;
    /// 5_001 <= quorumBps_ <= 10_000 (only one side can reach it); 1 <= minVotes_ <= size.
    /// Emits {PanelRulesChanged}.
    function setPanelRules(uint8 size, uint16 quorumBps_, uint16 minVotes_) external onlyRole(GOVERNOR_ROLE) {
        if (size == 0 || size > MAX_PANEL_SIZE || quorumBps_ <= BPS / 2 || quorumBps_ > BPS || minVotes_ == 0 || minVotes_ > size) {
            revert ParamsInvalidPanelRules(size, quorumBps_, minVotes_);
        }
        (panelSize, quorumBps, minVotes) = (size, quorumBps_, minVotes_);
        emit PanelRulesChanged(size, quorumBps_, minVotes_);
    }

    /// @notice Sets the challenge deposit (wei), the share of it burned on expiry, and the delay before a heavy
    /// slash executes (seconds). Requirements: GOVERNOR_ROLE; bond > 0; penalty <= 10_000; delay <= 30 days; once
    /// sealed, the deposit at most doubles per change (a governor must not price challenges out of reach at once).
    /// Emits {ChallengeTermsChanged}.
    function setChallengeTerms(uint256 bond, uint16 penaltyBps, uint64 delay) external onlyRole(GOVERNOR_ROLE) {
        if (bond == 0 || penaltyBps > BPS || delay > MAX_SLASH_DELAY) revert ParamsInvalidChallengeTerms(bond, penaltyBps, delay);
        _checkStep(challengeBond, bond);
        (challengeBond, expiryPenaltyBps, slashDelay) = (bond, penaltyBps, delay);
        emit ChallengeTermsChanged(bond, penaltyBps, delay);
    }

    /// @dev Once sealed, an increase from `old` to `next` may at most multiply it by MAX_STEP_FACTOR.
    function _checkStep(uint256 old, uint256 next) private view {
        if (isSealed && next > old && next > old * MAX_STEP_FACTOR) revert ParamsChangeTooLarge(old, next, MAX_STEP_FACTOR);
    }

    function _setTierMultiplier(uint256 tier, uint32 multiplierBps) private {
        if (tier >= TIER_COUNT) revert ParamsInvalidTier(tier);
        if (multiplierBps == 0 || multiplierBps > 10 * BPS) revert ParamsInvalidMultiplier(tier, multiplierBps);
        _tierMultiplierBps[tier] = multiplierBps;
        emit TierMultiplierChanged(tier, multiplierBps);
    }
}
