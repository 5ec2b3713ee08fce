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
    /// @dev A quorum of zero.
    error ParamsInvalidQuorum(uint256 quorum);
    /// @dev A timestamp before genesis.
    error ParamsBeforeGenesis(uint256 timestamp, uint256 genesis);

    event TierMultiplierChanged(uint256 indexed tier, uint32 multiplierBps);
    event EpochLengthChanged(uint64 fromEpoch, uint64 startTime, uint64 length);
    event WindowsChanged(uint64 commitWindow, uint64 revealWindow, uint64 challengeWindow, uint64 adjudicationTimeout, uint64 unbondingDelay);
    event EmissionChanged(uint256 epochPool, uint256 dailyCap);
    event SlashRateChanged(Offence indexed offence, uint16 rateBps);
    event MinimumBondsChanged(uint256 minNodeBond, uint256 minNotaryBond);
    event ChallengerShareChanged(uint16 shareBps);
    event QuorumChanged(uint16 quorum);

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
    function quorum() external view returns (uint16);
    function epochAt(uint256 timestamp) external view returns (uint64);
    function currentEpoch() external view returns (uint64);
    function epochStart(uint64 epoch) external view returns (uint64);
}
