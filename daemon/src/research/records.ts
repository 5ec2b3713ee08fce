import { createHash } from 'node:crypto';
import type { SignedReceipt } from '../diloco/messages.js';
import { recoverSigner } from '../identity/signature.js';
import { canonicalJson } from './hparams.js';

/**
 * Signed research records: a trial job (research node -> trainer), a trial result or failure (trainer -> research node), a
 * finding (a knowledge-base entry) and trial credits (research node -> trainer: the receipts it signed for trials). Each is canonical JSON plus its author's wallet signature over
 * sha256("magnet-research-v1\n" + kind + "\n" + body), so a record proves who wrote it wherever it is kept: in an
 * RPC, in SQLite, or as a blob another research node reads.
 */
export type RecordKind = 'trial-job' | 'trial-result' | 'trial-failed' | 'finding' | 'trial-credits';
/** Larger records are refused before parsing (a result carries a loss curve; a finding a phase's trials). */
export const MAX_RECORD_BYTES = 256 * 1024;

export interface SignedRecord {
  kind: RecordKind;
  body: Buffer;
  signature: Buffer;
}

export interface TrialJob {
  v: 1;
  runId: string;
  trialId: string;
  researcher: string;
  /** The resolved hyperparameters (research/hparams.ts), as the trainer's `trial --config` takes them. */
  config: Record<string, unknown>;
  seed: number;
  steps: number;
  /** The trainer's --data: 'generated', 'stdlib' or the network's own data (a trainer refuses any other path). */
  data: string;
  evalWindows: number;
  testWindows: number;
  issuedAt: number;
  /**
   * The ledger round a receipt for this trial names (TRIAL_CREDIT_BASE + n, never a DiLoCo round): the worker keeps
   * it, so that it later takes a receipt only for a trial it ran. Absent on the research node's own trials.
   */
  creditRound?: number;
}

/**
 * Ledger rounds of trial receipts start here: 2^48, far above any DiLoCo round (a round a minute for 500 million
 * years) and below 2^53, so a JavaScript number holds it exactly. A research node numbers its trials from it.
 */
export const TRIAL_CREDIT_BASE = 2 ** 48;

/** A receipt as trial credits carry it: as a round outcome carries one, without a Merkle leaf (none is sealed for trials). */
export type CreditReceipt = Omit<SignedReceipt, 'leaf'>;

export interface TrialCredits {
  v: 1;
  researcher: string;
  receipts: CreditReceipt[];
}

/** At most this many receipts in one trial-credits record (a run's trials for one worker fit many times over). */
export const MAX_CREDITS = 512;

export interface TrialResult {
  v: 1;
  runId: string;
  trialId: string;
  worker: string;
  /** sha256 hex of the job's signed digest: a result answers exactly one job. */
  job: string;
  checkpointSha256: string;
  /** Storage manifest of the trial checkpoint ("" when it could not be stored): the research node re-scores it. */
  manifestId: string;
  evalLoss: number;
  testLoss: number;
  curve: [number, number][];
  tokens: number;
  seconds: number;
  params: number;
}

/** A trial its worker could not finish (its trainer failed, or ran past the worker's time limit): reassign it now. */
export interface TrialFailure {
  v: 1;
  runId: string;
  trialId: string;
  worker: string;
  job: string;
  error: string;
}

export function recordDigest(kind: string, body: Buffer): Buffer {
  return createHash('sha256').update(`magnet-research-v1\n${kind}\n`).update(body).digest();
}

export function signRecord(kind: RecordKind, value: object, sign: (digest: Buffer) => Buffer): SignedRecord {
  const body = Buffer.from(canonicalJson(value), 'utf8');
  return { kind, body, signature: sign(recordDigest(kind, body)) };
}

/** Why a record is refused: the reason a peer gets back and the log names. */
export class RecordError extends Error {
  constructor(
    readonly reason: string,
    message: string,
  ) {
    super(message);
  }
}

/**
 * Checks a record's kind, size, signature and author: `authorField` of the body must be the signer's nodeId, and
 * `expectedAuthor` (the authenticated RPC caller, when there is one) too. Returns the parsed body.
 */
export function openRecord(
  rec: { kind: string; body: Uint8Array; signature: Uint8Array },
  kind: RecordKind,
  authorField: string,
  expectedAuthor?: string,
): Record<string, unknown> {
  if (rec.kind !== kind) throw new RecordError('bad_kind', `expected a ${kind} record, got ${JSON.stringify(rec.kind.slice(0, 32))}`);
  if (rec.body.length > MAX_RECORD_BYTES)
    throw new RecordError('too_large', `${kind} record is ${rec.body.length} bytes (max ${MAX_RECORD_BYTES})`);
  let signer: string;
  try {
    signer = recoverSigner(recordDigest(kind, Buffer.from(rec.body)), rec.signature).nodeId;
  } catch (err) {
    throw new RecordError('bad_signature', `${kind} record: ${(err as Error).message}`);
  }
  let body: unknown;
  try {
    body = JSON.parse(Buffer.from(rec.body).toString('utf8'));
  } catch {
    throw new RecordError('bad_field', `${kind} record body is not JSON`);
  }
  if (!body || typeof body !== 'object' || Array.isArray(body)) throw new RecordError('bad_field', `${kind} record body is not an object`);
  const b = body as Record<string, unknown>;
  if (b['v'] !== 1) throw new RecordError('bad_field', `${kind} record version ${JSON.stringify(b['v'])} is not 1`);
  if (b[authorField] !== signer)
    throw new RecordError(
      'wrong_author',
      `${kind} record names ${String(b[authorField]).slice(0, 40)} as ${authorField} but ${signer} signed it`,
    );
  if (expectedAuthor !== undefined && signer !== expectedAuthor)
    throw new RecordError('wrong_author', `${kind} record signed by ${signer} arrived from ${expectedAuthor}`);
  return b;
}

const HEX64 = /^[0-9a-f]{64}$/;
const ID = /^[A-Za-z0-9._:-]{1,80}$/;

function need(ok: boolean, field: string, v: unknown): asserts ok {
  if (!ok) throw new RecordError('bad_field', `${field} ${JSON.stringify(v)?.slice(0, 60)} is not valid`);
}

const finite = (v: unknown, min = -Infinity, max = Infinity): v is number =>
  typeof v === 'number' && Number.isFinite(v) && v >= min && v <= max;
const int = (v: unknown, min: number, max: number): v is number => Number.isSafeInteger(v) && (v as number) >= min && (v as number) <= max;

export function parseJob(b: Record<string, unknown>): TrialJob {
  need(typeof b['runId'] === 'string' && ID.test(b['runId']), 'runId', b['runId']);
  need(typeof b['trialId'] === 'string' && ID.test(b['trialId']), 'trialId', b['trialId']);
  need(typeof b['researcher'] === 'string', 'researcher', b['researcher']);
  need(!!b['config'] && typeof b['config'] === 'object' && !Array.isArray(b['config']), 'config', b['config']);
  need(int(b['seed'], 0, 2 ** 32), 'seed', b['seed']);
  need(int(b['steps'], 1, 1_000_000), 'steps', b['steps']);
  need(typeof b['data'] === 'string' && b['data'].length > 0 && b['data'].length <= 4096, 'data', b['data']);
  need(int(b['evalWindows'], 1, 4096), 'evalWindows', b['evalWindows']);
  need(int(b['testWindows'], 1, 4096), 'testWindows', b['testWindows']);
  need(int(b['issuedAt'], 0, Number.MAX_SAFE_INTEGER), 'issuedAt', b['issuedAt']);
  need(
    b['creditRound'] === undefined || int(b['creditRound'], TRIAL_CREDIT_BASE, Number.MAX_SAFE_INTEGER),
    'creditRound',
    b['creditRound'],
  );
  return b as unknown as TrialJob;
}

const HEX32 = /^0x[0-9a-fA-F]{64}$/;
const ADDRESS = /^0x[0-9a-fA-F]{40}$/;

export function parseCredits(b: Record<string, unknown>): TrialCredits {
  need(typeof b['researcher'] === 'string', 'researcher', b['researcher']);
  const list = b['receipts'];
  need(Array.isArray(list) && list.length > 0 && list.length <= MAX_CREDITS, 'receipts', '(array)');
  for (const [i, x] of (list as unknown[]).entries()) {
    need(!!x && typeof x === 'object' && !Array.isArray(x), `receipts[${i}]`, x);
    const r = x as Record<string, unknown>;
    need(typeof r['nodeId'] === 'string' && ID.test(r['nodeId']), `receipts[${i}].nodeId`, r['nodeId']);
    for (const k of ['node', 'leader']) need(typeof r[k] === 'string' && ADDRESS.test(r[k]), `receipts[${i}].${k}`, r[k]);
    for (const k of ['checkpointHash', 'gradientHash']) need(typeof r[k] === 'string' && HEX32.test(r[k]), `receipts[${i}].${k}`, r[k]);
    need(int(r['epoch'], 0, Number.MAX_SAFE_INTEGER), `receipts[${i}].epoch`, r['epoch']);
    need(int(r['round'], TRIAL_CREDIT_BASE, Number.MAX_SAFE_INTEGER), `receipts[${i}].round`, r['round']);
    need(int(r['tokens'], 0, Number.MAX_SAFE_INTEGER), `receipts[${i}].tokens`, r['tokens']);
    need(int(r['score'], 0, 1_000_000), `receipts[${i}].score`, r['score']);
    need(
      typeof r['leaderSignature'] === 'string' && /^0x[0-9a-fA-F]{130}$/.test(r['leaderSignature']),
      `receipts[${i}].leaderSignature`,
      '(sig)',
    );
  }
  return b as unknown as TrialCredits;
}

export function parseResult(b: Record<string, unknown>): TrialResult {
  need(typeof b['runId'] === 'string' && ID.test(b['runId']), 'runId', b['runId']);
  need(typeof b['trialId'] === 'string' && ID.test(b['trialId']), 'trialId', b['trialId']);
  need(typeof b['worker'] === 'string', 'worker', b['worker']);
  need(typeof b['job'] === 'string' && HEX64.test(b['job']), 'job', b['job']);
  need(typeof b['checkpointSha256'] === 'string' && HEX64.test(b['checkpointSha256']), 'checkpointSha256', b['checkpointSha256']);
  need(typeof b['manifestId'] === 'string' && b['manifestId'].length <= 200, 'manifestId', b['manifestId']);
  need(finite(b['evalLoss'], 0, 1e6), 'evalLoss', b['evalLoss']);
  need(finite(b['testLoss'], 0, 1e6), 'testLoss', b['testLoss']);
  const curve = b['curve'];
  need(
    Array.isArray(curve) &&
      curve.length <= 10_000 &&
      curve.every((p) => Array.isArray(p) && p.length === 2 && int(p[0], 0, 1e9) && finite(p[1], 0, 1e6)),
    'curve',
    '(array)',
  );
  need(int(b['tokens'], 0, Number.MAX_SAFE_INTEGER), 'tokens', b['tokens']);
  need(finite(b['seconds'], 0, 1e9), 'seconds', b['seconds']);
  need(int(b['params'], 0, Number.MAX_SAFE_INTEGER), 'params', b['params']);
  return b as unknown as TrialResult;
}

export function parseFailure(b: Record<string, unknown>): TrialFailure {
  need(typeof b['runId'] === 'string' && ID.test(b['runId']), 'runId', b['runId']);
  need(typeof b['trialId'] === 'string' && ID.test(b['trialId']), 'trialId', b['trialId']);
  need(typeof b['worker'] === 'string', 'worker', b['worker']);
  need(typeof b['job'] === 'string' && HEX64.test(b['job']), 'job', b['job']);
  need(typeof b['error'] === 'string' && b['error'].length <= 2000, 'error', '(text)');
  return b as unknown as TrialFailure;
}

/** The hex digest a result names as its `job`. */
export function jobDigestHex(rec: SignedRecord | { kind: string; body: Uint8Array }): string {
  return recordDigest(rec.kind, Buffer.from(rec.body)).toString('hex');
}
