// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

/// @title IParams
/// @notice Governance-controlled parameters shared by the registry, the ledger and the notary panel.
interface IParams {
    /// @dev Offences with their own slashing rate (fraction of the bond removed, in basis points).
    enum Offence {
        BadClaim,
        BadReveal,
        BadRegistration,
        NoReveal,
        FrivolousChallenge
    }

    /// @dev A tier index outside 0..TIER_COUNT-1.
    error ParamsInvalidTier(uint256 tier);
    /// @dev A multiplier of zero or above 10x.
    error ParamsInvalidMultiplier(uint256 tier, uint256 multiplierBps);
    /// @dev A slashing rate outside 0.1..1.0 (1_000..10_000 bps).
    error ParamsInvalidSlashRate(Offence offence, uint256 rateBps);
    /// @dev A basis-point value above 10_000.
    error ParamsInvalidBps(uint256 bps);
    /// @dev An epoch length of zero or not dividing a day.
    error ParamsInvalidEpochLength(uint64 length);
    /// @dev Windows that are zero, or an unbonding delay shorter than commit + reveal + challenge + adjudication.
    error ParamsInvalidWindows(uint64 commitWindow, uint64 revealWindow, uint64 challengeWindow, uint64 adjudicationTimeout, uint64 unbondingDelay);
    /// @dev An epoch pool larger than the daily cap.
    error ParamsInvalidEmission(uint256 epochPool, uint256 dailyCap);
    /// @dev A claim cap of zero tokens, or a per-node share outside 100..10_000 bps.
    error ParamsInvalidClaimCaps(uint64 maxTokensPerClaim, uint16 maxRewardShareBps);
    /// @dev A minimum bond of zero.
    error ParamsInvalidBonds(uint256 minNodeBond, uint256 minNotaryBond);
    /// @dev Once sealed, a value may at most be multiplied by `factor` in one change.
    error ParamsChangeTooLarge(uint256 old, uint256 next, uint256 factor);
    /// @dev seal was called twice, or with the zero address.
    error ParamsAlreadySealed();
    /// @dev A panel size outside 1..32, a stake quorum outside 5_001..10_000 bps (two sides could both reach it
    /// below a majority), or a minimum vote count outside 1..panelSize (no panel could ever decide).
    error ParamsInvalidPanelRules(uint8 panelSize, uint16 quorumBps, uint16 minVotes);
    /// @dev A challenge bond of zero, an expiry penalty above 10_000 bps, or a slash delay above 30 days.
    error ParamsInvalidChallengeTerms(uint256 challengeBond, uint16 expiryPenaltyBps, uint64 slashDelay);
    /// @dev A timestamp before genesis.
    error ParamsBeforeGenesis(uint256 timestamp, uint256 genesis);

    event TierMultiplierChanged(uint256 indexed tier, uint32 multiplierBps);
    event EpochLengthChanged(uint64 fromEpoch, uint64 startTime, uint64 length);
    event WindowsChanged(uint64 commitWindow, uint64 revealWindow, uint64 challengeWindow, uint64 adjudicationTimeout, uint64 unbondingDelay);
    event EmissionChanged(uint256 epochPool, uint256 dailyCap);
    event SlashRateChanged(Offence indexed offence, uint16 rateBps);
    event MinimumBondsChanged(uint256 minNodeBond, uint256 minNotaryBond);
    event ChallengerShareChanged(uint16 shareBps);
    event ClaimCapsChanged(uint64 maxTokensPerClaim, uint16 maxRewardShareBps);
    event Sealed(address governor);
    event PanelRulesChanged(uint8 panelSize, uint16 quorumBps, uint16 minVotes);
    event ChallengeTermsChanged(uint256 challengeBond, uint16 expiryPenaltyBps, uint64 slashDelay);

    function tierMultiplierBps(uint256 tier) external view returns (uint32);
    function commitWindow() external view returns (uint64);
    function revealWindow() external view returns (uint64);
    function challengeWindow() external view returns (uint64);
    function adjudicationTimeout() external view returns (uint64);
    function unbondingDelay() external view returns (uint64);
    function epochPool() external view returns (uint256);
    function dailyCap() external view returns (uint256);
    function slashRateBps(Offence offence) external view returns (uint16);
    function minNodeBond() external view returns (uint256);
    function minNotaryBond() external view returns (uint256);
    function challengerShareBps() external view returns (uint16);
    function maxTokensPerClaim() external view returns (uint64);
    function maxRewardShareBps() external view returns (uint16);
    function panelSize() external view returns (uint8);
    function quorumBps() external view returns (uint16);
    function minVotes() external view returns (uint16);
    function challengeBond() external view returns (uint256);
    function expiryPenaltyBps() external view returns (uint16);
    function slashDelay() external view returns (uint64);
    function epochAt(uint256 timestamp) external view returns (uint64);
    function currentEpoch() external view returns (uint64);
    function epochStart(uint64 epoch) external view returns (uint64);
}
