// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

/// @title INotaryPanel
/// @notice Bonded notaries open challenges against a claim, a reveal or a registration and rule by quorum.
interface INotaryPanel {
    enum Kind {
        Claim,
        Reveal,
        Registration
    }

    enum Status {
        None,
        Open,
        Upheld,
        Rejected,
        Expired
    }

    error PanelAlreadyNotary(address notary);
    error PanelNotBondedNotary(address account);
    error PanelBondTooLow(uint256 bond, uint256 minimum);
    error PanelAlreadyUnbonding(address notary, uint64 releaseAt);
    error PanelNotUnbonding(address notary);
    error PanelUnbondingNotOver(address notary, uint64 releaseAt, uint256 now_);
    error PanelNotaryBusy(address notary, uint32 openChallenges);
    error PanelNotRegistered(address node);
    error PanelChallengeExists(uint256 challengeId);
    error PanelChallengeNotOpen(uint256 challengeId);
    error PanelConflictOfInterest(uint256 challengeId, address notary);
    error PanelAlreadyVoted(uint256 challengeId, address notary);
    error PanelVotingClosed(uint256 challengeId, uint256 deadline);
    error PanelVotingOpen(uint256 challengeId, uint256 deadline);
    error PanelTransferFailed(address to, uint256 amount);

    event NotaryJoined(address indexed notary, uint256 bond);
    event NotaryUnbondingRequested(address indexed notary, uint64 releaseAt);
    event NotaryBondWithdrawn(address indexed notary, uint256 amount);
    event ChallengeOpened(uint256 indexed challengeId, Kind kind, address indexed node, uint64 epoch, address indexed challenger);
    event VoteCast(uint256 indexed challengeId, address indexed notary, bool uphold);
    event ChallengeRuled(uint256 indexed challengeId, Status status, uint256 slashed);
    /// @dev Notary slashes are burned entirely.
    event NotarySlashed(address indexed notary, uint16 rateBps, uint256 slashed);
}
