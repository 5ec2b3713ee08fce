// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

/// @title IContributionLedger
/// @notice Claims per epoch, from commit-reveal of EIP-712 round receipts or from a Merkle proof against a round
/// root its leader committed; challenge window; capped settlement; pull payments.
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

    /// @dev A round's contributions as its leader committed them: one leaf per contributor (see `roundLeaf`), each with
    /// its own index below `contributors`, so one bit per leaf records what was claimed.
    struct RoundRoot {
        bytes32 root;
        uint64 epoch;
        uint64 maxTokens; // the round's tokens per contributor: no leaf may claim more
        uint32 contributors; // leaves the leader declared (at most 256): indexes run 0..contributors-1
        bool voided; // a panel upheld a Round challenge against its leader
        uint256 claimedBits; // bit i set: leaf i was claimed
    }

    /// @dev What a contributor claims from a round root: its leaf, less its own address (the sender).
    struct RoundClaim {
        uint64 epoch;
        address leader;
        uint64 round;
        uint32 index;
        uint64 tokens;
        uint32 score;
        bytes32 gradientHash;
    }

    /// @dev An epoch settled by one posted root of cumulative (node, amount) leaves instead of the claim loop.
    struct Settlement {
        bytes32 root; // of every node's cumulative credit up to and including this epoch
        uint256 total; // this epoch's credit: what the root adds to the cumulative total
        uint256 prevCumulative; // the cumulative total the root builds on
        address settler;
        uint64 postedAt;
        uint32 openChallenges;
        bool voided;
        bool finalized;
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
    error LedgerInvalidRound(bytes32 root, uint32 contributors, uint64 maxTokens);
    error LedgerRoundAlreadyCommitted(address leader, uint64 round);
    error LedgerTooManyRounds(uint64 epoch, address leader, uint256 max);
    error LedgerUnknownRound(uint64 epoch, address leader, uint64 round);
    error LedgerRoundVoided(address leader, uint64 round);
    error LedgerLeafIndexOutOfRange(address leader, uint64 round, uint32 index, uint32 contributors);
    error LedgerLeafClaimed(address leader, uint64 round, uint32 index);
    error LedgerInvalidProof(bytes32 leaf, bytes32 root);
    error LedgerSelfVouched(address node);
    error LedgerRevealFirst(uint64 epoch, address node);
    error LedgerNoRounds(uint64 epoch, address leader);
    error LedgerSettlementOverPool(uint64 epoch, uint256 total, uint256 pool);
    /// @dev The pool or per-node cap a settlement was computed on is no longer the epoch's (`pool`, `nodeCap` now).
    error LedgerSettlementBasis(uint64 epoch, uint256 pool, uint256 nodeCap);
    error LedgerSettlementExists(uint64 epoch);
    error LedgerNoSettlement(uint64 epoch);
    error LedgerSettlementWindowOpen(uint64 epoch, uint256 now_, uint256 closes);
    error LedgerSettlementStale(uint64 epoch, uint256 prevCumulative, uint256 cumulative);
    error LedgerSettlementNotChallengeable(uint64 epoch, address settler);
    error LedgerInvalidSettlementProof(address node, uint256 cumulative);
    error LedgerContributionClaimed(address leader, uint64 epoch, uint64 round, address node);

    event ContributionCommitted(uint64 indexed epoch, address indexed node, bytes32 commitment);
    event ClaimRevealed(uint64 indexed epoch, address indexed node, bytes32 digest, uint64 receiptEpoch, uint64 round, uint256 weight);
    event ClaimChallenged(uint64 indexed epoch, address indexed node, uint32 openChallenges);
    event ClaimChallengeClosed(uint64 indexed epoch, address indexed node, bool upheld);
    event ClaimVoided(uint64 indexed epoch, address indexed node, uint256 weight);
    event EpochSettlementStarted(uint64 indexed epoch, uint256 pool, uint256 totalWeight, uint256 claims);
    event RewardCredited(uint64 indexed epoch, address indexed node, uint256 amount);
    event EpochSettled(uint64 indexed epoch, uint256 pool, uint256 paid, uint256 unminted);
    event RewardWithdrawn(address indexed account, uint256 amount);
    event RoundCommitted(uint64 indexed epoch, address indexed leader, uint64 indexed round, bytes32 root, uint32 contributors, uint64 maxTokens);
    event RoundClaimed(uint64 indexed epoch, address indexed node, address indexed leader, uint64 round, uint256 weight);
    event RoundsChallenged(uint64 indexed epoch, address indexed leader, uint32 openChallenges);
    event RoundsVoided(uint64 indexed epoch, address indexed leader, uint256 rounds, uint256 weight);

    event SettlementPosted(
        uint64 indexed epoch, address indexed settler, bytes32 root, uint256 total, uint256 prevCumulative, uint256 pool, uint256 nodeCap
    );
    event SettlementVoided(uint64 indexed epoch, address indexed settler);
    event SettlementFinalized(uint64 indexed epoch, bytes32 root, uint256 total, uint256 cumulative);

    function openChallenge(uint64 epoch, address node) external;
    function openSettlementChallenge(uint64 epoch, address settler) external;
    function closeSettlementChallenge(uint64 epoch, address settler, bool upheld) external;
    function closeChallenge(uint64 epoch, address node, bool upheld) external;
    function markNoShow(uint64 epoch, address node) external;
    function openRoundChallenge(uint64 epoch, address leader) external;
    function closeRoundChallenge(uint64 epoch, address leader, bool upheld) external;
}
