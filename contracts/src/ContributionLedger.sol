// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {ReentrancyGuard} from "@openzeppelin/contracts/utils/ReentrancyGuard.sol";
import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";
import {MerkleProof} from "@openzeppelin/contracts/utils/cryptography/MerkleProof.sol";
import {Math} from "@openzeppelin/contracts/utils/math/Math.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {IParams} from "./IParams.sol";
import {INodeRegistry} from "./INodeRegistry.sol";
import {IContributionLedger} from "./IContributionLedger.sol";
import {MagnetToken} from "./MagnetToken.sol";

/// @title ContributionLedger
/// @notice Epoch e: commit in [start, start+commitWindow), reveal the signed receipt in the reveal window, then
/// a challenge window; settlement credits R_i = min(floor(pool * w_i / sum w_j), pool * maxRewardShareBps) with
/// w = rewardMultiplier * tokens * score (the tier's multiplier capped by the bond behind it, tokens capped per claim)
/// and pool = min(epochPool, dailyCap - emitted that day). Only credited amounts are minted (dust never is);
/// an epoch where every weight is zero mints nothing. Rewards are pulled with {withdraw}.
/// A round's leader may instead commit one Merkle root of the round's contributions in the commit window
/// ({commitRound}); each contributor then claims its leaf with a proof in the reveal window ({claimRound}), its
/// weight added to its claim of the epoch. A panel that upholds a Round challenge voids the leader's roots of the
/// epoch, with every weight claimed from them, and slashes the leader.
contract ContributionLedger is AccessControl, ReentrancyGuard, EIP712, IContributionLedger {
    using SafeERC20 for MagnetToken;

    /// @dev Held by the notary panel.
    bytes32 public constant PANEL_ROLE = keccak256("PANEL_ROLE");
    bytes32 public constant RECEIPT_TYPEHASH = keccak256(
        "Receipt(address node,uint64 epoch,uint64 round,bytes32 checkpointHash,bytes32 gradientHash,uint64 tokens,uint32 score,address leader)"
    );
    bytes32 public constant COMMIT_TAG = keccak256("MAGNET_CONTRIBUTION_COMMIT_V1");
    uint32 public constant MAX_SCORE = 1_000_000;
    /// @notice A receipt earned in epoch e may be claimed in any epoch from e to e + MAX_CLAIM_DELAY_EPOCHS: a node
    /// holds one claim per epoch, and rounds from several leaders (or a receipt that arrives after its commit
    /// window) must not be lost. The bound keeps old receipts from being hoarded indefinitely.
    uint64 public constant MAX_CLAIM_DELAY_EPOCHS = 144;
    bytes32 public constant LEAF_TAG = keccak256("MAGNET_ROUND_LEAF_V1");
    bytes32 public constant SETTLEMENT_TAG = keccak256("MAGNET_SETTLEMENT_LEAF_V1");
    /// @notice Bounds that keep voiding a leader's epoch (every claim made from its roots) well inside one block.
    uint32 public constant MAX_ROUND_CONTRIBUTORS = 256;
    uint256 public constant MAX_ROUNDS_PER_EPOCH = 4;

    struct Claim {
        ClaimStatus status;
        bytes32 commitment;
        uint256 weight;
        uint256 reward;
    }

    struct EpochState {
        address[] claimants;
        uint256 totalWeight;
        uint256 pool;
        uint256 paid;
        uint32 cursor;
        uint32 openChallenges;
        uint256 nodeCap; // the most one claim may be credited, fixed with the pool
        bool settling;
        bool settled;
    }

    IParams public immutable params;
    INodeRegistry public immutable registry;
    MagnetToken public immutable token;

    mapping(uint64 epoch => mapping(address node => Claim)) private _claims;
    mapping(uint64 epoch => EpochState) private _epochs;
    mapping(bytes32 digest => bool) public usedReceipts;
    /// @dev One payment per contribution, whichever way it is claimed: a leader that signs a receipt and also puts the
    /// same contribution in a root must not let the node claim it twice (see {contributionKey}).
    mapping(bytes32 key => bool) public claimedContributions;
    mapping(uint256 day => uint256) public emittedOnDay;
    mapping(address account => uint256) public owed;
    mapping(address leader => mapping(uint64 round => RoundRoot)) private _roots;
    mapping(uint64 epoch => mapping(address leader => uint64[])) private _roundsLed;
    /// @dev Nodes that claimed from a leader's roots in an epoch, and the weight each took from them.
    mapping(uint64 epoch => mapping(address leader => address[])) private _roundClaimers;
    mapping(uint64 epoch => mapping(address leader => mapping(address node => uint256))) private _weightVia;
    mapping(uint64 epoch => Settlement) private _settlements;
    /// @notice The cumulative (node, amount) root of the latest finalized settlement, and the total it credits.
    bytes32 public cumulativeRoot;
    uint256 public cumulativeCredited;
    mapping(address node => uint256) public withdrawnCumulative;
    uint256 public totalOwed;
    uint256 public totalCredited;

    /// @param maxSupply supply cap of the token this ledger creates and alone mints.
    constructor(IParams params_, INodeRegistry registry_, address admin, uint256 maxSupply) EIP712("MAGNET Ledger", "1") {
        params = params_;
        registry = registry_;
        token = new MagnetToken(address(this), maxSupply);
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
    }

    // ---- views ----

    function claimOf(uint64 epoch, address node) external view returns (Claim memory) {
        return _claims[epoch][node];
    }

    function epochInfo(uint64 epoch)
        external
        view
        returns (uint256 claims, uint256 totalWeight, uint256 pool, uint256 paid, uint32 cursor, uint32 openChallenges, bool settling, bool settled)
    {
        EpochState storage s = _epochs[epoch];
        return (s.claimants.length, s.totalWeight, s.pool, s.paid, s.cursor, s.openChallenges, s.settling, s.settled);
    }

    function roundOf(address leader, uint64 round) external view returns (RoundRoot memory) {
        return _roots[leader][round];
    }

    function roundsLed(uint64 epoch, address leader) external view returns (uint64[] memory) {
        return _roundsLed[epoch][leader];
    }

    /// @notice The leaf of `node` in the root a leader commits for a round (`leaf.leader`, `.epoch`, `.round`): double-hashed
    /// (a leaf can never pass for an inner node) and bound to this ledger and chain. Trees use sorted pairs
    /// (OpenZeppelin MerkleProof).
    function roundLeaf(address node, RoundClaim calldata leaf) public view returns (bytes32) {
        bytes32 inner = keccak256(
            bytes.concat(
                abi.encode(LEAF_TAG, block.chainid, address(this), leaf.leader, leaf.epoch, leaf.round),
                abi.encode(leaf.index, node, leaf.tokens, leaf.score, leaf.gradientHash)
            )
        );
        return keccak256(bytes.concat(inner));
    }

    /// @notice The contribution a receipt or a round leaf pays: `node`'s work in `round` of `leader`, signed in `epoch`.
    function contributionKey(address leader, uint64 epoch, uint64 round, address node) public pure returns (bytes32) {
        return keccak256(abi.encode(leader, epoch, round, node));
    }

    /// @notice (commit opens, reveal opens, reveal closes = challenge opens, challenge closes) of `epoch`.
    function windows(uint64 epoch) public view returns (uint256 commitOpens, uint256 revealOpens, uint256 revealCloses, uint256 challengeCloses) {
        commitOpens = params.epochStart(epoch);
        revealOpens = commitOpens + params.commitWindow();
        revealCloses = revealOpens + params.revealWindow();
        challengeCloses = revealCloses + params.challengeWindow();
    }

    /// @notice EIP-712 struct hash of a receipt: the "result" that is committed.
    function hashReceipt(Receipt calldata r) public pure returns (bytes32) {
        return keccak256(abi.encode(RECEIPT_TYPEHASH, r.node, r.epoch, r.round, r.checkpointHash, r.gradientHash, r.tokens, r.score, r.leader));
    }

    /// @notice EIP-712 digest the node and the leader sign.
    function receiptDigest(Receipt calldata r) external view returns (bytes32) {
        return _hashTypedDataV4(hashReceipt(r));
    }

    /// @notice hash(result, nonce, sender, epoch, chainid, contract): binding the sender stops copied commits.
    function commitmentOf(bytes32 result, bytes32 nonce, address sender, uint64 epoch) public view returns (bytes32) {
        return keccak256(abi.encode(COMMIT_TAG, result, nonce, sender, epoch, block.chainid, address(this)));
    }

    // ---- node actions ----

    /// @notice Commits a contribution for `epoch`. Requirements: active node; inside the commit window; one
    /// commitment per node and epoch. Emits {ContributionCommitted}.
    function commit(uint64 epoch, bytes32 commitment) external {
        if (!registry.isActive(msg.sender)) revert LedgerNodeNotActive(msg.sender);
        (uint256 opens, uint256 closes,,) = windows(epoch);
        if (block.timestamp < opens || block.timestamp >= closes) revert LedgerCommitOutsideWindow(epoch, block.timestamp, opens, closes);
        Claim storage c = _claims[epoch][msg.sender];
        if (c.status != ClaimStatus.None) revert LedgerAlreadyCommitted(epoch, msg.sender);
        c.status = ClaimStatus.Committed;
        c.commitment = commitment;
        emit ContributionCommitted(epoch, msg.sender, commitment);
    }

    /// @notice Reveals, for the sender's claim of `epoch`, the receipt behind its commitment, signed by the node
    /// wallet and the round leader. Requirements: inside the reveal window of `epoch`; the commitment matches; and
    /// every check of {checkClaim}. Emits {ClaimRevealed}.
    function reveal(uint64 epoch, Receipt calldata r, bytes32 nonce, bytes calldata nodeSignature, bytes calldata leaderSignature)
        external
    {
        _checkClaimant(epoch, r);
        Claim storage c = _checkOpening(epoch, r, nonce);
        (bytes32 digest, uint256 weight) = _checkReceipt(r, nodeSignature, leaderSignature);
        usedReceipts[digest] = true;
        claimedContributions[contributionKey(r.leader, r.epoch, r.round, r.node)] = true;
        _record(epoch, c, weight);
        emit ClaimRevealed(epoch, msg.sender, digest, r.epoch, r.round, weight);
    }

    /// @dev The reveal window of `epoch` is open and the receipt with `nonce` opens the sender's commitment.
    function _checkOpening(uint64 epoch, Receipt calldata r, bytes32 nonce) private view returns (Claim storage c) {
        (, uint256 opens, uint256 closes,) = windows(epoch);
        if (block.timestamp < opens || block.timestamp >= closes) revert LedgerRevealOutsideWindow(epoch, block.timestamp, opens, closes);
        c = _claims[epoch][msg.sender];
        if (c.status != ClaimStatus.Committed) revert LedgerNoCommitment(epoch, msg.sender);
        bytes32 computed = commitmentOf(hashReceipt(r), nonce, msg.sender, epoch);
        if (computed != c.commitment) revert LedgerRevealMismatch(c.commitment, computed);
    }

    /// @dev Marks the sender's claim revealed with `weight` and adds it to the epoch.
    function _record(uint64 epoch, Claim storage c, uint256 weight) private {
        c.status = ClaimStatus.Revealed;
        c.weight = weight;
        EpochState storage s = _epochs[epoch];
        s.claimants.push(msg.sender);
        s.totalWeight += weight;
    }

    /// @notice What {reveal} checks of a receipt apart from the window and the commitment, for the sender about to
    /// commit it: a node runs this with eth_call first, so a receipt that could never be revealed (a bogus leader,
    /// a replay, values over the caps) is refused before the commit that would leave it a slashable no-show.
    /// Requirements: sender is the receipt's node and active; the receipt's epoch is at most `epoch` and at most
    /// MAX_CLAIM_DELAY_EPOCHS before it; receipt unused and its contribution not claimed from a root; score <=
    /// MAX_SCORE; tokens <= the governed cap; both signatures valid; leader registered and not the node.
    /// @return weight the claim's weight: reward multiplier x tokens x score.
    function checkClaim(uint64 epoch, Receipt calldata r, bytes calldata nodeSignature, bytes calldata leaderSignature)
        external
        view
        returns (uint256 weight)
    {
        _checkClaimant(epoch, r);
        (, weight) = _checkReceipt(r, nodeSignature, leaderSignature);
    }

    /// @dev The sender is the receipt's node and active, and the receipt may be claimed in `epoch`.
    function _checkClaimant(uint64 epoch, Receipt calldata r) private view {
        if (r.node != msg.sender) revert LedgerNotClaimant(msg.sender, r.node);
        if (!registry.isActive(msg.sender)) revert LedgerNodeNotActive(msg.sender);
        if (r.epoch > epoch || epoch - r.epoch > MAX_CLAIM_DELAY_EPOCHS) {
            revert LedgerReceiptEpochOutOfRange(epoch, r.epoch, MAX_CLAIM_DELAY_EPOCHS);
        }
    }

    /// @dev Replay, caps, both signatures and the leader; returns the EIP-712 digest and the weight.
    function _checkReceipt(Receipt calldata r, bytes calldata nodeSignature, bytes calldata leaderSignature)
        private
        view
        returns (bytes32 digest, uint256 weight)
    {
        digest = _hashTypedDataV4(hashReceipt(r));
        if (usedReceipts[digest]) revert LedgerReceiptReplayed(digest);
        if (claimedContributions[contributionKey(r.leader, r.epoch, r.round, r.node)]) {
            revert LedgerContributionClaimed(r.leader, r.epoch, r.round, r.node);
        }
        if (r.score > MAX_SCORE) revert LedgerScoreOverCap(r.score, MAX_SCORE);
        uint64 tokenCap = params.maxTokensPerClaim();
        if (r.tokens > tokenCap) revert LedgerTokensOverCap(r.tokens, tokenCap);
        address signer = ECDSA.recover(digest, nodeSignature);
        if (signer != r.node) revert LedgerInvalidNodeSignature(signer, r.node);
        // The leader must have stake at risk: a key nobody bonded cannot vouch for a round. Registered, not active:
        // a leader that starts unbonding stays slashable until it withdraws, and must not void receipts it signed.
        if (r.leader == r.node || !registry.isRegistered(r.leader)) revert LedgerLeaderNotRegistered(r.leader);
        signer = ECDSA.recover(digest, leaderSignature);
        if (signer != r.leader) revert LedgerInvalidLeaderSignature(signer, r.leader);
        weight = registry.rewardMultiplierBps(msg.sender) * r.tokens * r.score;
    }

    // ---- round roots ----

    /// @notice Commits the root of `round`'s contributions for `epoch`, by the round's leader. Requirements: active
    /// node; inside the commit window of `epoch`; once per (leader, round); at most MAX_ROUNDS_PER_EPOCH per leader
    /// and epoch; a non-zero root; 1..MAX_ROUND_CONTRIBUTORS contributors; 1 <= maxTokens <= maxTokensPerClaim.
    /// Emits {RoundCommitted}.
    function commitRound(uint64 epoch, uint64 round, bytes32 root, uint32 contributors, uint64 maxTokens) external {
        if (!registry.isActive(msg.sender)) revert LedgerNodeNotActive(msg.sender);
        (uint256 opens, uint256 closes,,) = windows(epoch);
        if (block.timestamp < opens || block.timestamp >= closes) revert LedgerCommitOutsideWindow(epoch, block.timestamp, opens, closes);
        if (root == bytes32(0) || contributors == 0 || contributors > MAX_ROUND_CONTRIBUTORS || maxTokens == 0 || maxTokens > params.maxTokensPerClaim()) {
            revert LedgerInvalidRound(root, contributors, maxTokens);
        }
        RoundRoot storage r = _roots[msg.sender][round];
        if (r.root != bytes32(0)) revert LedgerRoundAlreadyCommitted(msg.sender, round);
        uint64[] storage led = _roundsLed[epoch][msg.sender];
        if (led.length >= MAX_ROUNDS_PER_EPOCH) revert LedgerTooManyRounds(epoch, msg.sender, MAX_ROUNDS_PER_EPOCH);
        led.push(round);
        (r.root, r.epoch, r.maxTokens, r.contributors) = (root, epoch, maxTokens, contributors);
        emit RoundCommitted(epoch, msg.sender, round, root, contributors, maxTokens);
    }

    /// @notice Claims the sender's leaf of a committed round root; its weight (reward multiplier x tokens x score)
    /// joins the sender's claim of the root's epoch. Requirements: active node, not the leader; inside the reveal
    /// window of `leaf.epoch`; the root committed for that epoch and not voided; tokens <= the round's maxTokens; score
    /// <= MAX_SCORE; the leaf's index below the round's contributors and unclaimed; the leaf proven and its contribution
    /// not paid by receipt; the sender's claim of the epoch not a commitment still to reveal. Emits {RoundClaimed}.
    function claimRound(RoundClaim calldata leaf, bytes32[] calldata proof) external {
        if (!registry.isActive(msg.sender)) revert LedgerNodeNotActive(msg.sender);
        if (leaf.leader == msg.sender) revert LedgerSelfVouched(msg.sender);
        (, uint256 opens, uint256 closes,) = windows(leaf.epoch);
        if (block.timestamp < opens || block.timestamp >= closes) revert LedgerRevealOutsideWindow(leaf.epoch, block.timestamp, opens, closes);
        Claim storage c = _claims[leaf.epoch][msg.sender];
        if (c.status == ClaimStatus.Committed) revert LedgerRevealFirst(leaf.epoch, msg.sender);
        if (c.status != ClaimStatus.None && c.status != ClaimStatus.Revealed) revert LedgerAlreadyCommitted(leaf.epoch, msg.sender);
        _spendLeaf(leaf, proof);
        uint256 weight = registry.rewardMultiplierBps(msg.sender) * leaf.tokens * leaf.score;
        mapping(address => uint256) storage via = _weightVia[leaf.epoch][leaf.leader];
        if (via[msg.sender] == 0 && weight != 0) _roundClaimers[leaf.epoch][leaf.leader].push(msg.sender);
        via[msg.sender] += weight;
        EpochState storage s = _epochs[leaf.epoch];
        if (c.status == ClaimStatus.None) {
            c.status = ClaimStatus.Revealed;
            s.claimants.push(msg.sender);
        }
        c.weight += weight;
        s.totalWeight += weight;
        emit RoundClaimed(leaf.epoch, msg.sender, leaf.leader, leaf.round, weight);
    }

    /// @dev Checks the sender's leaf against its round's root and bounds, and marks it claimed.
    function _spendLeaf(RoundClaim calldata leaf, bytes32[] calldata proof) private {
        RoundRoot storage r = _roots[leaf.leader][leaf.round];
        if (r.root == bytes32(0) || r.epoch != leaf.epoch) revert LedgerUnknownRound(leaf.epoch, leaf.leader, leaf.round);
        if (r.voided) revert LedgerRoundVoided(leaf.leader, leaf.round);
        if (leaf.tokens > r.maxTokens) revert LedgerTokensOverCap(leaf.tokens, r.maxTokens);
        if (leaf.score > MAX_SCORE) revert LedgerScoreOverCap(leaf.score, MAX_SCORE);
        if (leaf.index >= r.contributors) revert LedgerLeafIndexOutOfRange(leaf.leader, leaf.round, leaf.index, r.contributors);
        uint256 bit = 1 << leaf.index;
        if (r.claimedBits & bit != 0) revert LedgerLeafClaimed(leaf.leader, leaf.round, leaf.index);
        bytes32 h = roundLeaf(msg.sender, leaf);
        if (!MerkleProof.verifyCalldata(proof, r.root, h)) revert LedgerInvalidProof(h, r.root);
        bytes32 key = contributionKey(leaf.leader, leaf.epoch, leaf.round, msg.sender);
        if (claimedContributions[key]) revert LedgerContributionClaimed(leaf.leader, leaf.epoch, leaf.round, msg.sender);
        claimedContributions[key] = true;
        r.claimedBits |= bit;
    }

    // ---- panel hooks ----

    /// @notice Marks the claim of `node` in `epoch` a no-show: committed and never revealed, the reveal window over.
    /// The panel slashes for it (NotaryPanel.reportNoShow): the panel alone holds the registry's slasher role.
    /// Requirements: PANEL_ROLE; once per claim.
    function markNoShow(uint64 epoch, address node) external onlyRole(PANEL_ROLE) {
        Claim storage c = _claims[epoch][node];
        (,, uint256 revealCloses,) = windows(epoch);
        if (c.status != ClaimStatus.Committed || block.timestamp < revealCloses) revert LedgerNotNoShow(epoch, node);
        c.status = ClaimStatus.NoShow;
    }

    /// @notice Holds settlement of `epoch` while a challenge against the claim of `node` is open.
    /// Requirements: PANEL_ROLE; claim revealed; inside the challenge window. Emits {ClaimChallenged}.
    function openChallenge(uint64 epoch, address node) external onlyRole(PANEL_ROLE) {
        if (_claims[epoch][node].status != ClaimStatus.Revealed) revert LedgerClaimNotRevealed(epoch, node);
        (,, uint256 opens, uint256 closes) = windows(epoch);
        if (block.timestamp < opens || block.timestamp >= closes) revert LedgerChallengeWindowClosed(epoch, block.timestamp, closes);
        EpochState storage s = _epochs[epoch];
        ++s.openChallenges;
        emit ClaimChallenged(epoch, node, s.openChallenges);
    }

    /// @notice Closes a challenge; an upheld one voids the claim (its weight leaves the epoch's sum).
    /// Requirements: PANEL_ROLE. Emits {ClaimChallengeClosed} and, if upheld, {ClaimVoided}.
    function closeChallenge(uint64 epoch, address node, bool upheld) external onlyRole(PANEL_ROLE) {
        EpochState storage s = _epochs[epoch];
        --s.openChallenges;
        emit ClaimChallengeClosed(epoch, node, upheld);
        Claim storage c = _claims[epoch][node];
        if (upheld && c.status == ClaimStatus.Revealed) {
            c.status = ClaimStatus.Voided;
            s.totalWeight -= c.weight;
            emit ClaimVoided(epoch, node, c.weight);
        }
    }

    /// @notice Holds settlement of `epoch` while a challenge against the round roots `leader` committed for it is open.
    /// Requirements: PANEL_ROLE; the leader committed a root for `epoch`; inside its challenge window.
    /// Emits {RoundsChallenged}.
    function openRoundChallenge(uint64 epoch, address leader) external onlyRole(PANEL_ROLE) {
        if (_roundsLed[epoch][leader].length == 0) revert LedgerNoRounds(epoch, leader);
        (,, uint256 opens, uint256 closes) = windows(epoch);
        if (block.timestamp < opens || block.timestamp >= closes) revert LedgerChallengeWindowClosed(epoch, block.timestamp, closes);
        EpochState storage s = _epochs[epoch];
        ++s.openChallenges;
        emit RoundsChallenged(epoch, leader, s.openChallenges);
    }

    /// @notice Closes a Round challenge; an upheld one voids every root `leader` committed for `epoch` and takes the
    /// weight claimed from them out of each claim and of the epoch's sum. Requirements: PANEL_ROLE.
    /// Emits {RoundsVoided} if upheld.
    function closeRoundChallenge(uint64 epoch, address leader, bool upheld) external onlyRole(PANEL_ROLE) {
        EpochState storage s = _epochs[epoch];
        --s.openChallenges;
        if (!upheld) return;
        uint64[] storage led = _roundsLed[epoch][leader];
        for (uint256 i = 0; i < led.length; ++i) {
            _roots[leader][led[i]].voided = true;
        }
        address[] storage claimers = _roundClaimers[epoch][leader];
        mapping(address => uint256) storage via = _weightVia[epoch][leader];
        uint256 removed = 0;
        for (uint256 i = 0; i < claimers.length; ++i) {
            Claim storage c = _claims[epoch][claimers[i]];
            if (c.status != ClaimStatus.Revealed) continue; // a claim voided by its own challenge left the sum whole
            uint256 w = via[claimers[i]];
            c.weight -= w;
            removed += w;
        }
        s.totalWeight -= removed;
        emit RoundsVoided(epoch, leader, led.length, removed);
    }

    // ---- settlement and withdrawal ----

    /// @notice Settles up to `maxClaims` claims of `epoch` (call again until {EpochSettled}). The first call fixes
    /// the pool under the daily cap. Requirements: challenge window over; no open challenge; not settled.
    /// Emits {EpochSettlementStarted}, {RewardCredited} per paid claim, {EpochSettled} at the end.
    /// @return done whether the epoch is now settled.
    function settle(uint64 epoch, uint256 maxClaims) external returns (bool done) {
        if (maxClaims == 0) revert LedgerZeroBatch();
        EpochState storage s = _epochs[epoch];
        if (s.settled) revert LedgerEpochAlreadySettled(epoch);
        (uint256 start,,, uint256 closes) = windows(epoch);
        if (block.timestamp < closes) revert LedgerChallengeWindowOpen(epoch, block.timestamp, closes);
        if (s.openChallenges != 0) revert LedgerChallengesPending(epoch, s.openChallenges);
        uint256 day = start / 1 days;
        if (_stands(_settlements[epoch], day)) revert LedgerSettlementExists(epoch);
        if (!s.settling) {
            s.settling = true;
            if (s.totalWeight != 0) {
                s.pool = _poolOf(day);
                s.nodeCap = Math.mulDiv(s.pool, params.maxRewardShareBps(), 10_000);
                emittedOnDay[day] += s.pool; // reserved; dust is released when the epoch completes
            }
            emit EpochSettlementStarted(epoch, s.pool, s.totalWeight, s.claimants.length);
        }
        uint256 end = Math.min(s.claimants.length, uint256(s.cursor) + maxClaims);
        uint256 batchPaid = 0;
        for (uint256 i = s.cursor; i < end; ++i) {
            address node = s.claimants[i];
            Claim storage c = _claims[epoch][node];
            if (c.status != ClaimStatus.Revealed) continue; // voided
            // Pro rata, and never more than the per-node share of the pool: a colluding pair that signs itself
            // receipts of maximal weight takes at most two shares, the rest is never minted.
            uint256 reward = s.totalWeight == 0 ? 0 : Math.min(Math.mulDiv(s.pool, c.weight, s.totalWeight), s.nodeCap);
            c.status = ClaimStatus.Paid;
            c.reward = reward;
            owed[node] += reward;
            batchPaid += reward;
            emit RewardCredited(epoch, node, reward);
        }
        s.cursor = uint32(end);
        s.paid += batchPaid;
        totalOwed += batchPaid;
        totalCredited += batchPaid;
        done = end == s.claimants.length;
        if (done) {
            s.settled = true;
            uint256 unminted = s.pool - s.paid;
            emittedOnDay[day] -= unminted;
            emit EpochSettled(epoch, s.pool, s.paid, unminted);
        }
        if (batchPaid != 0) token.mint(address(this), batchPaid);
    }

    // ---- Merkle settlement ----

    function settlementOf(uint64 epoch) external view returns (Settlement memory) {
        return _settlements[epoch];
    }

    /// @notice The leaf of `node` in a cumulative settlement root: everything credited to it by settlements so far.
    function settlementLeaf(address node, uint256 cumulative) public view returns (bytes32) {
        return keccak256(bytes.concat(keccak256(abi.encode(SETTLEMENT_TAG, block.chainid, address(this), node, cumulative))));
    }

    /// @notice Posts the settlement of `epoch` as one root of cumulative credits, computed off chain from its claims and
    /// round roots; it stands once its challenge period (the governed challenge window) passes unchallenged. The claim
    /// loop ({settle}) is closed for the epoch while a posting stands. Requirements: active node; the epoch's challenge
    /// window over and no challenge open; the loop not started; no standing posting; `total` within the epoch's pool
    /// (the emission, less what its day has emitted); `pool` and `nodeCap` the basis it was computed on, equal to the
    /// epoch's pool and per-node cap now (so every node recomputes the same leaves from the event). Emits {SettlementPosted}.
    function postSettlement(uint64 epoch, bytes32 root, uint256 total, uint256 pool, uint256 nodeCap) external {
        if (!registry.isActive(msg.sender)) revert LedgerNodeNotActive(msg.sender);
        EpochState storage s = _epochs[epoch];
        if (s.settled || s.settling) revert LedgerEpochAlreadySettled(epoch);
        (uint256 start,,, uint256 closes) = windows(epoch);
        if (block.timestamp < closes) revert LedgerChallengeWindowOpen(epoch, block.timestamp, closes);
        if (s.openChallenges != 0) revert LedgerChallengesPending(epoch, s.openChallenges);
        Settlement storage p = _settlements[epoch];
        uint256 day = start / 1 days;
        if (p.openChallenges != 0 || _stands(p, day)) revert LedgerSettlementExists(epoch);
        uint256 pool_ = _poolOf(day);
        uint256 cap = Math.mulDiv(pool_, params.maxRewardShareBps(), 10_000);
        if (pool != pool_ || nodeCap != cap) revert LedgerSettlementBasis(epoch, pool_, cap);
        if (root == bytes32(0) || total > pool) revert LedgerSettlementOverPool(epoch, total, pool);
        _settlements[epoch] = Settlement(root, total, cumulativeCredited, msg.sender, uint64(block.timestamp), 0, false, false);
        emit SettlementPosted(epoch, msg.sender, root, total, cumulativeCredited, pool, nodeCap);
    }

    /// @notice Finalizes a posting whose challenge period passed: its root becomes the cumulative root, its total is
    /// minted to the ledger and the epoch is settled. Anyone may call. Emits {SettlementFinalized}.
    function finalizeSettlement(uint64 epoch) external {
        Settlement storage p = _settlements[epoch];
        if (p.root == bytes32(0) || p.voided || p.finalized) revert LedgerNoSettlement(epoch);
        uint256 closes = uint256(p.postedAt) + params.challengeWindow();
        if (block.timestamp < closes || p.openChallenges != 0) revert LedgerSettlementWindowOpen(epoch, block.timestamp, closes);
        if (p.prevCumulative != cumulativeCredited) revert LedgerSettlementStale(epoch, p.prevCumulative, cumulativeCredited);
        EpochState storage s = _epochs[epoch];
        if (s.settled || s.settling) revert LedgerEpochAlreadySettled(epoch);
        (uint256 start,,,) = windows(epoch);
        uint256 day = start / 1 days;
        uint256 pool = _poolOf(day);
        if (p.total > pool) revert LedgerSettlementOverPool(epoch, p.total, pool);
        p.finalized = true;
        (s.settling, s.settled, s.pool, s.paid) = (true, true, p.total, p.total);
        emittedOnDay[day] += p.total;
        cumulativeRoot = p.root;
        cumulativeCredited += p.total;
        totalOwed += p.total;
        totalCredited += p.total;
        emit SettlementFinalized(epoch, p.root, p.total, cumulativeCredited);
        if (p.total != 0) token.mint(address(this), p.total);
    }

    /// @notice Withdraws what the cumulative root credits the sender beyond what it withdrew by proof before.
    /// Emits {RewardWithdrawn}.
    function withdrawCumulative(uint256 cumulative, bytes32[] calldata proof) external nonReentrant {
        if (!MerkleProof.verifyCalldata(proof, cumulativeRoot, settlementLeaf(msg.sender, cumulative))) {
            revert LedgerInvalidSettlementProof(msg.sender, cumulative);
        }
        uint256 done = withdrawnCumulative[msg.sender];
        if (cumulative <= done) revert LedgerNothingToWithdraw(msg.sender);
        uint256 amount = cumulative - done;
        withdrawnCumulative[msg.sender] = cumulative;
        totalOwed -= amount;
        emit RewardWithdrawn(msg.sender, amount);
        token.safeTransfer(msg.sender, amount);
    }

    /// @notice Holds a posting while a panel judges it. Requirements: PANEL_ROLE; a standing posting of `settler`.
    function openSettlementChallenge(uint64 epoch, address settler) external onlyRole(PANEL_ROLE) {
        Settlement storage p = _settlements[epoch];
        if (p.root == bytes32(0) || p.voided || p.finalized || p.settler != settler) revert LedgerSettlementNotChallengeable(epoch, settler);
        ++p.openChallenges;
    }

    /// @notice Closes a Settlement challenge; an upheld one voids the posting (anyone may post again).
    function closeSettlementChallenge(uint64 epoch, address settler, bool upheld) external onlyRole(PANEL_ROLE) {
        Settlement storage p = _settlements[epoch];
        --p.openChallenges;
        if (upheld && !p.finalized) {
            p.voided = true;
            emit SettlementVoided(epoch, settler);
        }
    }

    /// @dev A posting stands unless voided, overtaken (another epoch finalized since: it no longer builds on the total)
    /// or over what its day has left (another epoch of the day settled since: it could never be finalized).
    function _stands(Settlement storage p, uint256 day) private view returns (bool) {
        return p.root != bytes32(0) && !p.voided && p.prevCumulative == cumulativeCredited && p.total <= _poolOf(day);
    }

    /// @dev An epoch's pool on `day`: the emission, at most what the daily cap has left.
    function _poolOf(uint256 day) private view returns (uint256) {
        uint256 cap = params.dailyCap();
        uint256 room = cap > emittedOnDay[day] ? cap - emittedOnDay[day] : 0;
        return Math.min(params.epochPool(), room);
    }

    /// @notice Transfers everything owed to the sender. Emits {RewardWithdrawn}.
    function withdraw() external nonReentrant {
        uint256 amount = owed[msg.sender];
        if (amount == 0) revert LedgerNothingToWithdraw(msg.sender);
        owed[msg.sender] = 0;
        totalOwed -= amount;
        emit RewardWithdrawn(msg.sender, amount);
        token.safeTransfer(msg.sender, amount);
    }
}
