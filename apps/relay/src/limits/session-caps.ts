/**
 * Caps on concurrent sessions, global and per client address (issue 6, "Limits": max
 * sessions global and per client address). IPv6 clients are counted per /64 by default,
 * since one subscriber usually holds a whole /64 (RFC 6177).
 *
 * Integration (server.ts, admission/steps.ts `limitsStep`): at start `const caps = new SessionCaps(config.limits)`. On each
 * upgrade, with `client` from `resolveClientAddress` (auth/forwarded.ts):
 * `const slot = caps.tryAcquire(client)`; if `!slot.ok` close with `refusalClose(slot.reason)`;
 * else call `slot.release()` exactly when the session ends (idempotent).
 */
import { canonicalIp } from '../auth/forwarded.ts';

/** Default most concurrent sessions (the benchmark holds 9 000 idle ones). */
export const DEFAULT_MAX_SESSIONS = 10_000;

/** Default most concurrent sessions per client address (or IPv6 /64). */
export const DEFAULT_MAX_SESSIONS_PER_ADDRESS = 16;

/** Options of {@link SessionCaps}. */
export interface SessionCapsOptions {
  /** Most concurrent sessions; default {@link DEFAULT_MAX_SESSIONS}. */
  readonly maxSessions?: number;
  /** Most concurrent sessions per address; default {@link DEFAULT_MAX_SESSIONS_PER_ADDRESS}. */
  readonly maxSessionsPerAddress?: number;
  /** IPv6 addresses are grouped by this prefix, bits; default 64. */
  readonly ipv6PrefixLength?: number;
}

/** A held session slot. */
export interface SessionSlot {
  /** Frees the slot; idempotent. */
  release(): void;
}

/** Result of {@link SessionCaps.tryAcquire}. */
export type SessionSlotResult =
  | { readonly ok: true; readonly slot: SessionSlot; readonly key: string }
  | { readonly ok: false; readonly reason: 'sessions-global' | 'sessions-per-address' };

/** Counts sessions; memory is one map entry per address with a live session. */
export class SessionCaps {
  readonly #max: number;
  readonly #maxPerAddress: number;
  readonly #v6Prefix: number;
  readonly #perKey = new Map<string, number>();
  /** Frees one slot of a key: one function per caps, shared by every held slot. */
  readonly #free = (key: string): void => this.#releaseKey(key);
  #total = 0;

  constructor(opts: SessionCapsOptions = {}) {
    this.#max = opts.maxSessions ?? DEFAULT_MAX_SESSIONS;
    this.#maxPerAddress = opts.maxSessionsPerAddress ?? DEFAULT_MAX_SESSIONS_PER_ADDRESS;
    this.#v6Prefix = opts.ipv6PrefixLength ?? 64;
    if (!Number.isInteger(this.#max) || this.#max < 1)
      throw new RangeError('maxSessions must be an integer ≥ 1');
    if (!Number.isInteger(this.#maxPerAddress) || this.#maxPerAddress < 1) {
      throw new RangeError('maxSessionsPerAddress must be an integer ≥ 1');
    }
    if (!Number.isInteger(this.#v6Prefix) || this.#v6Prefix < 1 || this.#v6Prefix > 128) {
      throw new RangeError('ipv6PrefixLength must be an integer in 1..128');
    }
  }

  /** Live sessions. */
  get total(): number {
    return this.#total;
  }

  /** Live sessions counted for `address`. */
  countFor(address: string): number {
    return this.#perKey.get(this.keyOf(address)) ?? 0;
  }

  /** The counting key of an address: the canonical IPv4 address, the IPv6 prefix, or the text. */
  keyOf(address: string): string {
    const ip = canonicalIp(address);
    if (ip === null) return address;
    if (!ip.includes(':')) return ip;
    return `${ipv6Prefix(ip, this.#v6Prefix)}/${this.#v6Prefix}`;
  }

  /** Takes a slot for a session from `address` unless a cap is reached. */
  tryAcquire(address: string): SessionSlotResult {
    if (this.#total >= this.#max) return { ok: false, reason: 'sessions-global' };
    const key = this.keyOf(address);
    const n = this.#perKey.get(key) ?? 0;
    if (n >= this.#maxPerAddress) return { ok: false, reason: 'sessions-per-address' };
    this.#perKey.set(key, n + 1);
    this.#total++;
    return { ok: true, key, slot: new HeldSlot(this.#free, key) };
  }

  /** Frees one slot of `key` (a {@link SessionSlot}'s release). */
  #releaseKey(key: string): void {
    this.#total--;
    const left = (this.#perKey.get(key) ?? 1) - 1;
    if (left === 0) this.#perKey.delete(key);
    else this.#perKey.set(key, left);
  }
}

/**
 * A slot held by one session: two fields and the class's shared `release` method, no closure
 * per session (idle sessions are many, issue 11).
 */
class HeldSlot implements SessionSlot {
  /** Frees the key; null once released. */
  #free: ((key: string) => void) | null;
  readonly #key: string;

  constructor(free: (key: string) => void, key: string) {
    this.#free = free;
    this.#key = key;
  }

  release(): void {
    const free = this.#free;
    if (free === null) return;
    this.#free = null;
    free(this.#key);
  }
}

/**
 * The network of a canonical IPv6 address under `prefixLength` bits, as canonical text
 * (`2001:db8:1:2::` for a /64): the counting key of a subscriber's block.
 */
function ipv6Prefix(ip: string, prefixLength: number): string {
  const [head = '', tail] = ip.split('::');
  const part = (p: string) => (p === '' ? [] : p.split(':').map((g) => parseInt(g, 16)));
  const h = part(head);
  const t = tail === undefined ? [] : part(tail);
  const groups = [...h, ...new Array<number>(8 - h.length - t.length).fill(0), ...t];
  const masked = groups.map((g, i) => {
    const bits = Math.max(0, Math.min(16, prefixLength - 16 * i));
    return g & ((0xffff << (16 - bits)) & 0xffff);
  });
  return canonicalIp(masked.map((g) => g.toString(16)).join(':')) as string;
}
