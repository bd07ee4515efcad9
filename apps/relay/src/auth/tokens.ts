/**
 * Signed, expiring session tokens (issue 6, "Access control").
 *
 * A helpdesk backend that shares a secret with the relay mints a token naming the VM
 * target id; the relay verifies it without storing anything but the ids of tokens it
 * has already seen (see {@link TokenLedger}). Format (all parts base64url, RFC 4648 §5,
 * no padding):
 *
 * ```
 * v1.<payload>.<signature>
 * payload   = UTF-8 JSON {"tid": string, "exp": unix seconds, "jti": string, "one"?: true}
 * signature = HMAC-SHA256(secret, "v1." + <payload>)      (RFC 2104, 32 bytes)
 * ```
 *
 * Integration (admission/steps.ts `tokenStep`, session-runner.ts): on upgrade, take the token
 * offered in `Sec-WebSocket-Protocol` (`parseClientOffer` in admission/offer.ts, its
 * `offeredToken`, which `tokenStep` reads through `AdmissionIo.offeredToken`) or from the first
 * message (`parseAuthMessage`, auth/origin.ts), call
 * {@link verifyToken} with the configured secrets, map a refusal with
 * `refusalForToken` (limits/refusals.ts), then {@link TokenLedger.claim} the `jti`, keep
 * the returned lease for the life of the session and call `lease.release()` when the
 * session ends. Never log the token itself.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

/** Version prefix of the only token format. */
export const TOKEN_VERSION = 'v1';

/** Smallest accepted HMAC secret, bytes (RFC 2104 §3: at least the hash output, 32 for SHA-256). */
export const MIN_SECRET_BYTES = 32;

/** Longest token string accepted before any parsing, characters. */
export const MAX_TOKEN_CHARS = 1024;

/** Longest lifetime a minted token may have, seconds (7 days). */
export const MAX_TOKEN_TTL_SECONDS = 7 * 24 * 3600;

/** Default tolerated clock difference between the minting backend and the relay, seconds. */
export const DEFAULT_CLOCK_SKEW_SECONDS = 30;

/** Target ids: 1–64 characters of `A–Z a–z 0–9 . _ -`. */
export const TARGET_ID_PATTERN = /^[A-Za-z0-9._-]{1,64}$/;

const SIGNATURE_BYTES = 32;
const JTI_BYTES = 16;
const BASE64URL = /^[A-Za-z0-9_-]+$/;
const JTI_PATTERN = /^[A-Za-z0-9_-]{16,64}$/;

/** What a valid token asserts. */
export interface TokenClaims {
  /** Target id: the key of a VM target in the relay's config. */
  readonly tid: string;
  /** Expiry, unix seconds. */
  readonly exp: number;
  /** Random token id (base64url), the key of the single-use ledger. */
  readonly jti: string;
  /** True: the token opens one session ever. False: one live session at a time until `exp`. */
  readonly isOneTime: boolean;
}

/** Why a token was refused. `unknown-target` only when `isKnownTarget` was given. */
export type TokenRefusal = 'malformed' | 'forged' | 'expired' | 'unknown-target';

/** Result of {@link verifyToken}; it never throws for any token string. */
export type TokenVerification =
  | {
      readonly ok: true;
      readonly claims: TokenClaims;
      /** Index into `secrets` of the secret that signed it (0 = current, 1 = previous). */
      readonly secretIndex: number;
    }
  | { readonly ok: false; readonly reason: TokenRefusal };

function checkSecret(secret: Uint8Array, what: string): void {
  if (!(secret instanceof Uint8Array)) throw new TypeError(`${what} must be a Uint8Array`);
  if (secret.byteLength < MIN_SECRET_BYTES) {
    throw new RangeError(
      `${what} has ${secret.byteLength} bytes; at least ${MIN_SECRET_BYTES} are required`,
    );
  }
}

function sign(secret: Uint8Array, signedPart: string): Buffer {
  return createHmac('sha256', secret).update(signedPart, 'utf8').digest();
}

/**
 * Turns the bytes of a secret file into the HMAC key: surrounding ASCII whitespace is
 * removed (so `openssl rand -base64 48 > secret` works), the rest is used as is.
 * Throws RangeError when fewer than {@link MIN_SECRET_BYTES} bytes remain.
 */
export function parseSecret(fileBytes: Uint8Array): Uint8Array {
  let start = 0;
  let end = fileBytes.byteLength;
  const isSpace = (b: number | undefined): boolean =>
    b === 0x20 || b === 0x09 || b === 0x0a || b === 0x0d;
  while (start < end && isSpace(fileBytes[start])) start++;
  while (end > start && isSpace(fileBytes[end - 1])) end--;
  const secret = fileBytes.slice(start, end);
  checkSecret(secret, 'secret');
  return secret;
}

/** Options of {@link mintToken}. */
export interface MintTokenOptions {
  /** HMAC key, ≥ 32 bytes. */
  readonly secret: Uint8Array;
  /** Target id, {@link TARGET_ID_PATTERN}. */
  readonly targetId: string;
  /** Lifetime, whole seconds, 1 … {@link MAX_TOKEN_TTL_SECONDS}. */
  readonly ttlSeconds: number;
  /** Current time, unix milliseconds. */
  readonly nowMs: number;
  /** Single-use (default true); false binds it to one live session at a time instead. */
  readonly isOneTime?: boolean;
  /** Token id; default 16 random bytes. For tests. */
  readonly jti?: string;
}

/** Mints a token. Throws TypeError/RangeError on bad options (a caller mistake). */
export function mintToken(opts: MintTokenOptions): string {
  checkSecret(opts.secret, 'secret');
  if (!TARGET_ID_PATTERN.test(opts.targetId)) {
    throw new RangeError(`target id must match ${String(TARGET_ID_PATTERN)}`);
  }
  if (
    !Number.isInteger(opts.ttlSeconds) ||
    opts.ttlSeconds < 1 ||
    opts.ttlSeconds > MAX_TOKEN_TTL_SECONDS
  ) {
    throw new RangeError(`ttlSeconds must be an integer in 1..${MAX_TOKEN_TTL_SECONDS}`);
  }
  if (!Number.isFinite(opts.nowMs)) throw new RangeError('nowMs must be a finite number');
  const jti = opts.jti ?? randomBytes(JTI_BYTES).toString('base64url');
  if (!JTI_PATTERN.test(jti)) throw new RangeError('jti must be 16..64 base64url characters');
  const payload: Record<string, unknown> = {
    tid: opts.targetId,
    exp: Math.floor(opts.nowMs / 1000) + opts.ttlSeconds,
    jti,
  };
  if (opts.isOneTime ?? true) payload['one'] = true;
  const body = Buffer.from(JSON.stringify(payload), 'utf8').toString('base64url');
  const signedPart = `${TOKEN_VERSION}.${body}`;
  return `${signedPart}.${sign(opts.secret, signedPart).toString('base64url')}`;
}

/** Options of {@link verifyToken}. */
export interface VerifyTokenOptions {
  /** The token string as received (untrusted; any value is handled). */
  readonly token: unknown;
  /** Accepted secrets, current first, then the previous one during a rotation. */
  readonly secrets: readonly Uint8Array[];
  /** Current time, unix milliseconds. */
  readonly nowMs: number;
  /** Tolerance for the minter's clock, seconds; default {@link DEFAULT_CLOCK_SKEW_SECONDS}. */
  readonly clockSkewSeconds?: number;
  /** When given, a token naming a target for which this returns false is `unknown-target`. */
  readonly isKnownTarget?: (targetId: string) => boolean;
}

function decodeClaims(body: string): TokenClaims | null {
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(body, 'base64url').toString('utf8'));
  } catch {
    return null;
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return null;
  const record = value as Record<string, unknown>;
  const { tid, exp, jti, one } = record;
  if (typeof tid !== 'string' || !TARGET_ID_PATTERN.test(tid)) return null;
  if (typeof exp !== 'number' || !Number.isSafeInteger(exp) || exp < 0) return null;
  if (typeof jti !== 'string' || !JTI_PATTERN.test(jti)) return null;
  if (one !== undefined && one !== true) return null;
  return { tid, exp, jti, isOneTime: one === true };
}

/**
 * Verifies a token: structure, then the signature against every secret (constant-time
 * compare, all secrets always tried), then claims, expiry (with skew) and target.
 * Never throws for any `token` value; throws RangeError only for bad `secrets` (config).
 */
export function verifyToken(opts: VerifyTokenOptions): TokenVerification {
  if (opts.secrets.length === 0) throw new RangeError('at least one secret is required');
  for (const s of opts.secrets) checkSecret(s, 'secret');
  const { token } = opts;
  if (typeof token !== 'string' || token.length > MAX_TOKEN_CHARS)
    return { ok: false, reason: 'malformed' };
  const parts = token.split('.');
  if (parts.length !== 3) return { ok: false, reason: 'malformed' };
  const [version, body, sig] = parts as [string, string, string];
  if (version !== TOKEN_VERSION || !BASE64URL.test(body) || !BASE64URL.test(sig)) {
    return { ok: false, reason: 'malformed' };
  }
  const given = Buffer.from(sig, 'base64url');
  // Canonical encoding only: exactly 43 characters for 32 bytes, no trailing garbage bits.
  if (given.byteLength !== SIGNATURE_BYTES || given.toString('base64url') !== sig) {
    return { ok: false, reason: 'malformed' };
  }
  const signedPart = `${version}.${body}`;
  let secretIndex = -1;
  opts.secrets.forEach((secret, i) => {
    // timingSafeEqual: the comparison time does not depend on where the bytes differ.
    if (timingSafeEqual(sign(secret, signedPart), given) && secretIndex < 0) secretIndex = i;
  });
  if (secretIndex < 0) return { ok: false, reason: 'forged' };
  const claims = decodeClaims(body);
  if (claims === null) return { ok: false, reason: 'malformed' };
  const skew = opts.clockSkewSeconds ?? DEFAULT_CLOCK_SKEW_SECONDS;
  if (claims.exp + skew <= Math.floor(opts.nowMs / 1000)) return { ok: false, reason: 'expired' };
  if (opts.isKnownTarget !== undefined && !opts.isKnownTarget(claims.tid)) {
    return { ok: false, reason: 'unknown-target' };
  }
  return { ok: true, claims, secretIndex };
}

/** Why {@link TokenLedger.claim} refused a token. */
export type LedgerRefusal =
  /** A one-time token was already used. */
  | 'used'
  /** A session-bound token is held by a live session. */
  | 'in-use'
  /** The ledger holds `maxEntries` unexpired ids; refusing is safer than forgetting one. */
  | 'full';

/** A claim on a token id, held for the life of one session. */
export interface TokenLease {
  /** Ends the session's hold; idempotent. One-time ids stay consumed until they expire. */
  release(): void;
}

/** Options of {@link TokenLedger}. */
export interface TokenLedgerOptions {
  /** Most remembered token ids; default 100 000 (≈ 15 MB worst case). */
  readonly maxEntries?: number;
  /** Kept after `exp`, seconds, to cover verification skew; default {@link DEFAULT_CLOCK_SKEW_SECONDS}. */
  readonly clockSkewSeconds?: number;
}

interface LedgerEntry {
  readonly forgetAtS: number;
  isLive: boolean;
  /** Its expiry passed while a session held it: forget it on release. */
  isPastExpiry: boolean;
}

/** A session's hold on a ledger entry (one small object per session). */
class Lease implements TokenLease {
  readonly #entries: Map<string, LedgerEntry>;
  readonly #jti: string;
  readonly #entry: LedgerEntry;
  #isReleased = false;

  constructor(entries: Map<string, LedgerEntry>, jti: string, entry: LedgerEntry) {
    this.#entries = entries;
    this.#jti = jti;
    this.#entry = entry;
  }

  release(): void {
    if (this.#isReleased) return;
    this.#isReleased = true;
    this.#entry.isLive = false;
    // Its expiry passed while the session lived: nothing else will forget it.
    if (this.#entry.isPastExpiry && this.#entries.get(this.#jti) === this.#entry)
      this.#entries.delete(this.#jti);
  }
}

/**
 * Remembers used token ids until they expire, so a one-time token opens one session
 * ever and a session-bound token one live session at a time. Memory is bounded:
 * expired ids are pruned (a min-heap by expiry, O(log n) per id), and at most
 * `maxEntries` are held. In-memory: a relay restart forgets, which the short token
 * lifetime bounds.
 */
export class TokenLedger {
  readonly #entries = new Map<string, LedgerEntry>();
  readonly #heap: { forgetAtS: number; jti: string }[] = [];
  readonly #maxEntries: number;
  readonly #skewS: number;

  constructor(opts: TokenLedgerOptions = {}) {
    this.#maxEntries = opts.maxEntries ?? 100_000;
    this.#skewS = opts.clockSkewSeconds ?? DEFAULT_CLOCK_SKEW_SECONDS;
    if (!Number.isInteger(this.#maxEntries) || this.#maxEntries < 1)
      throw new RangeError('maxEntries must be ≥ 1');
  }

  /** Remembered ids (expired ones are dropped on the next claim or {@link prune}). */
  get size(): number {
    return this.#entries.size;
  }

  /** Claims a verified token for a new session at `nowMs` (unix ms). */
  claim(opts: {
    readonly claims: TokenClaims;
    readonly nowMs: number;
  }):
    | { readonly ok: true; readonly lease: TokenLease }
    | { readonly ok: false; readonly reason: LedgerRefusal } {
    const { claims } = opts;
    this.prune(opts.nowMs);
    const existing = this.#entries.get(claims.jti);
    if (existing !== undefined) {
      if (claims.isOneTime) return { ok: false, reason: 'used' };
      if (existing.isLive) return { ok: false, reason: 'in-use' };
      existing.isLive = true;
      return { ok: true, lease: this.#lease(claims.jti, existing) };
    }
    if (this.#entries.size >= this.#maxEntries) return { ok: false, reason: 'full' };
    const entry: LedgerEntry = {
      forgetAtS: claims.exp + this.#skewS,
      isLive: true,
      isPastExpiry: false,
    };
    this.#entries.set(claims.jti, entry);
    this.#push({ forgetAtS: entry.forgetAtS, jti: claims.jti });
    return { ok: true, lease: this.#lease(claims.jti, entry) };
  }

  /** Forgets ids whose token expired (and whose session ended) before `nowMs`. */
  prune(nowMs: number): void {
    const nowS = Math.floor(nowMs / 1000);
    for (let top = this.#heap[0]; top !== undefined && top.forgetAtS < nowS; top = this.#heap[0]) {
      this.#pop();
      const entry = this.#entries.get(top.jti);
      // A live session keeps its id; release() forgets it when it is already past expiry.
      if (entry === undefined) continue;
      if (entry.isLive) entry.isPastExpiry = true;
      else this.#entries.delete(top.jti);
    }
  }

  #lease(jti: string, entry: LedgerEntry): TokenLease {
    return new Lease(this.#entries, jti, entry);
  }

  #push(item: { forgetAtS: number; jti: string }): void {
    const h = this.#heap;
    h.push(item);
    let i = h.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      const p = h[parent] as { forgetAtS: number; jti: string };
      if (p.forgetAtS <= item.forgetAtS) break;
      h[i] = p;
      i = parent;
    }
    h[i] = item;
  }

  #pop(): void {
    const h = this.#heap;
    const last = h.pop();
    if (last === undefined || h.length === 0) return;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= h.length) break;
      const r = l + 1;
      const left = h[l] as { forgetAtS: number; jti: string };
      const right = h[r];
      const child = right !== undefined && right.forgetAtS < left.forgetAtS ? r : l;
      const c = h[child] as { forgetAtS: number; jti: string };
      if (c.forgetAtS >= last.forgetAtS) break;
      h[i] = c;
      i = child;
    }
    h[i] = last;
  }
}
