// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

/// @title IContributionLedger
/// @notice Commit-reveal of EIP-712 round receipts per epoch, challenge window, capped settlement, pull payments.
interface IContributionLedger {
    /// @dev What a node and its round leader sign (EIP-712 type `Receipt`).
    struct Receipt {
        address node;
        uint64 epoch;
        uint64 round;
        bytes32 checkpointHash;
        bytes32 gradientHash;
        uint64 tokens;
        uint32 score; // quality in parts per million, at most MAX_SCORE
        address leader;
    }

    enum ClaimStatus {
        None,
        Committed,
        Revealed,
        Voided,
        NoShow,
        Paid
    }

    error LedgerNodeNotActive(address node);
    error LedgerAlreadyCommitted(uint64 epoch, address node);
    error LedgerCommitOutsideWindow(uint64 epoch, uint256 now_, uint256 opens, uint256 closes);
    error LedgerRevealOutsideWindow(uint64 epoch, uint256 now_, uint256 opens, uint256 closes);
    error LedgerNotClaimant(address sender, address node);
    error LedgerNoCommitment(uint64 epoch, address node);
    error LedgerRevealMismatch(bytes32 committed, bytes32 computed);
    error LedgerReceiptReplayed(bytes32 digest);
    error LedgerReceiptEpochOutOfRange(uint64 claimEpoch, uint64 receiptEpoch, uint64 maxDelay);
    error LedgerInvalidNodeSignature(address recovered, address node);
    error LedgerInvalidLeaderSignature(address recovered, address leader);
    error LedgerLeaderNotRegistered(address leader);
    error LedgerScoreOverCap(uint32 score, uint32 cap);
    error LedgerTokensOverCap(uint64 tokens, uint64 cap);
    error LedgerChallengeWindowOpen(uint64 epoch, uint256 now_, uint256 closes);
    error LedgerChallengeWindowClosed(uint64 epoch, uint256 now_, uint256 closed);
    error LedgerChallengesPending(uint64 epoch, uint32 open);
    error LedgerEpochAlreadySettled(uint64 epoch);
    error LedgerClaimNotRevealed(uint64 epoch, address node);
    error LedgerNotNoShow(uint64 epoch, address node);
    error LedgerNothingToWithdraw(address account);
    error LedgerZeroBatch();

    event ContributionCommitted(uint64 indexed epoch, address indexed node, bytes32 commitment);
    event ClaimRevealed(uint64 indexed epoch, address indexed node, bytes32 digest, uint64 receiptEpoch, uint64 round, uint256 weight);
    event ClaimChallenged(uint64 indexed epoch, address indexed node, uint32 openChallenges);
    event ClaimChallengeClosed(uint64 indexed epoch, address indexed node, bool upheld);
    event ClaimVoided(uint64 indexed epoch, address indexed node, uint256 weight);
    event EpochSettlementStarted(uint64 indexed epoch, uint256 pool, uint256 totalWeight, uint256 claims);
    event RewardCredited(uint64 indexed epoch, address indexed node, uint256 amount);
    event EpochSettled(uint64 indexed epoch, uint256 pool, uint256 paid, uint256 unminted);
    event RewardWithdrawn(address indexed account, uint256 amount);

    function openChallenge(uint64 epoch, address node) external;
    function closeChallenge(uint64 epoch, address node, bool upheld) external;
    function markNoShow(uint64 epoch, address node) external;
}
