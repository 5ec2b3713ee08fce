// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

/// @title INotaryPanel
/// @notice Bonded notaries open challenges, with a deposit, against a claim, a reveal or a registration; a panel drawn
/// by bond from a future block hash rules by a quorum of its stake; a heavy slash waits out an appeal window.
interface INotaryPanel {
    enum Kind {
        Claim,
        Reveal,
        Registration,
        Round, // the round roots a leader committed for an epoch: the node challenged is the leader
        Settlement // a settlement root posted for an epoch: the node challenged is its settler
    }

    /// @dev Open: the first panel is drawn or voting. Upheld: a heavy slash waits for `executeAfter` (appealable).
    /// Appealed: the appeal panel is drawn or voting. Final: Rejected, Expired, Executed (the node was slashed).
    enum Status {
        None,
        Open,
        Upheld,
        Rejected,
        Expired,
        Appealed,
        Executed
    }

    /// @dev A drawn panelist: its vote weight (bond at the draw) and the round it was drawn for (0 first, 1 appeal).
    struct Seat {
        uint256 weight;
        uint8 round;
        bool seated;
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
    error PanelUnknownChallenge(uint256 challengeId);
    error PanelChallengeNotOpen(uint256 challengeId);
    error PanelConflictOfInterest(uint256 challengeId, address notary);
    error PanelAlreadyVoted(uint256 challengeId, address notary);
    error PanelVotingClosed(uint256 challengeId, uint256 deadline);
    error PanelVotingOpen(uint256 challengeId, uint256 deadline);
    error PanelTransferFailed(address to, uint256 amount);
    /// @dev A challenge or appeal deposit below what Params asks.
    error PanelChallengeBondTooLow(uint256 sent, uint256 required);
    /// @dev draw() in or before the block whose hash seeds it.
    error PanelDrawTooEarly(uint256 challengeId, uint64 drawBlock, uint256 blockNumber);
    error PanelAlreadyDrawn(uint256 challengeId, uint8 round);
    /// @dev A vote before the panel of the current round is drawn.
    error PanelNotDrawn(uint256 challengeId, uint64 drawBlock);
    /// @dev A vote by a notary not drawn for the current round.
    error PanelNotPanelist(uint256 challengeId, address account);
    error PanelNotAppealable(uint256 challengeId, Status status);
    error PanelNotAccused(uint256 challengeId, address account);
    error PanelAppealClosed(uint256 challengeId, uint64 executeAfter);
    error PanelNotExecutable(uint256 challengeId, Status status);
    error PanelSlashDelayNotOver(uint256 challengeId, uint64 executeAfter, uint256 now_);
    error PanelNothingToWithdraw(address account);

    event NotaryJoined(address indexed notary, uint256 bond);
    event NotaryUnbondingRequested(address indexed notary, uint64 releaseAt);
    event NotaryBondWithdrawn(address indexed notary, uint256 amount);
    event ChallengeOpened(
        uint256 indexed challengeId, Kind kind, address indexed node, uint64 epoch, address indexed challenger, uint256 bond, uint64 drawBlock
    );
    /// @dev The seed block fell out of the 256 hashes the EVM keeps; the draw waits for a new one.
    event PanelDrawRescheduled(uint256 indexed challengeId, uint64 drawBlock);
    event PanelDrawn(uint256 indexed challengeId, uint8 round, address[] panel, uint256 panelBond);
    event VoteCast(uint256 indexed challengeId, address indexed notary, bool uphold, uint256 weight);
    /// @dev `slashed`: what the frivolous challenger's notary bond lost (Rejected only).
    event ChallengeRuled(uint256 indexed challengeId, Status status, uint256 slashed);
    event ChallengeSlashDelayed(uint256 indexed challengeId, uint64 executeAfter);
    event ChallengeAppealed(uint256 indexed challengeId, address indexed node, uint256 bond, uint64 drawBlock, uint256 deadline);
    event ChallengeExecuted(uint256 indexed challengeId, address indexed node, uint256 slashed);
    /// @dev A challenge or appeal deposit left the held total: `returned` is owed to `depositor`, `burned` stays here.
    event DepositSettled(uint256 indexed challengeId, address indexed depositor, uint256 returned, uint256 burned);
    /// @dev Notary slashes are burned entirely.
    event NotarySlashed(address indexed notary, uint16 rateBps, uint256 slashed);
    event PayoutWithdrawn(address indexed account, uint256 amount);
    event NoShowReported(uint64 indexed epoch, address indexed node, address indexed reporter, uint256 slashed);
}
