/**
 * The relay's resume tickets (issue 14 §1; the contract is relay-resume.ts of
 * @cardlend/vscard). Pure: time comes in as `nowMs`, randomness as 16 bytes.
 *
 * Each admitted session whose client offered `cardlend.resume.v1` holds one live ticket,
 * bound to its target and to the page origin (or none: a native client). A ticket is used up
 * by the reconnect that presents it — that connection gets a fresh one. When the session ends
 * (the grace ran out, or any other end), its ticket reads "expired" for a while, so a late
 * page hears that the session is over rather than "unknown". Refusals:
 *
 * | presented ticket                                  | answer    | close code              |
 * | ------------------------------------------------- | --------- | ----------------------- |
 * | live, same origin                                 | the session | —                     |
 * | replaced by a newer one (used)                    | `used`    | 4017 RESUME_USED        |
 * | its session ended (within `memoryMs` of the end)  | `expired` | 4016 RESUME_EXPIRED     |
 * | never issued, forgotten, or another origin        | `unknown` | 4018 RESUME_UNKNOWN     |
 */
import { RelayClose, resumeTicketFromBytes } from '@cardlend/vscard';

/** Why a ticket was refused. */
export type TicketRefusal = 'used' | 'expired' | 'unknown';

/** The close code and sentence of each refusal. */
export const TICKET_REFUSALS: Readonly<
  Record<TicketRefusal, { code: 4016 | 4017 | 4018; reason: string }>
> = {
  used: { code: RelayClose.RESUME_USED, reason: 'This resume ticket was already used.' },
  expired: {
    code: RelayClose.RESUME_EXPIRED,
    reason: 'The lending session is over (the resume grace period ended).',
  },
  unknown: {
    code: RelayClose.RESUME_UNKNOWN,
    reason: 'This relay does not know that lending session.',
  },
};

/** How long used and ended tickets are remembered, ms (after that: `unknown`). */
export const TICKET_MEMORY_MS = 10 * 60_000;

/** Where a ticket's session stands. */
type Entry<S> =
  | { readonly state: 'live'; readonly session: S; readonly origin: string | undefined }
  | { readonly state: 'used' | 'expired'; readonly forgetAtMs: number };

/**
 * Hears every ticket issued and retired (cluster/ticket-directory.ts records where each one is
 * held, for a resume that reaches another node). Never told the session.
 */
export interface TicketObserver {
  issued(ticket: string): void;
  retired(ticket: string, state: 'used' | 'expired'): void;
  /**
   * Resolves true once every node can find the issued `ticket` (its client may be offered it
   * then), false when it was retired first.
   */
  recorded(ticket: string): Promise<boolean>;
}

/** The outcome of presenting a ticket. */
export type TicketClaim<S> =
  | { readonly ok: true; readonly session: S }
  | { readonly ok: false; readonly refusal: TicketRefusal };

/** See the module comment. `S` is the relay's session object. */
export class ResumeTickets<S> {
  readonly #entries = new Map<string, Entry<S>>();
  readonly #live = new Map<S, string>();
  readonly #memoryMs: number;
  /** Told of every issued and retired ticket (a cluster node's ticket directory). */
  observer: TicketObserver | undefined;

  constructor(memoryMs = TICKET_MEMORY_MS) {
    this.#memoryMs = memoryMs;
  }

  /** How long used and ended tickets are remembered, ms. */
  get memoryMs(): number {
    return this.#memoryMs;
  }

  /** Tickets remembered now (live, used and ended). */
  get size(): number {
    return this.#entries.size;
  }

  /** A new live ticket for `session` (its older one, if any, now reads `used`). */
  issue(session: S, origin: string | undefined, random16: Uint8Array, nowMs: number): string {
    this.#prune(nowMs);
    this.#retire(session, 'used', nowMs);
    const ticket = resumeTicketFromBytes(random16);
    this.#entries.set(ticket, { state: 'live', session, origin });
    this.#live.set(session, ticket);
    this.observer?.issued(ticket);
    return ticket;
  }

  /**
   * When the client may be offered the `ticket` just issued: undefined — at once (no
   * observer: a relay alone); otherwise once the observer says it is recorded (true), or
   * never (false: retired meanwhile).
   */
  recorded(ticket: string): Promise<boolean> | undefined {
    return this.observer?.recorded(ticket);
  }

  /**
   * A reconnect presents `ticket` from `origin`: its session, or why not. A claimed ticket is
   * used up at once (the caller issues the next one).
   */
  claim(ticket: string, origin: string | undefined, nowMs: number): TicketClaim<S> {
    this.#prune(nowMs);
    const entry = this.#entries.get(ticket);
    if (entry === undefined) return { ok: false, refusal: 'unknown' };
    if (entry.state !== 'live') return { ok: false, refusal: entry.state };
    // Another page (or a native client replaying a page's ticket): as if never issued.
    if (entry.origin !== origin) return { ok: false, refusal: 'unknown' };
    this.#retire(entry.session, 'used', nowMs);
    return { ok: true, session: entry.session };
  }

  /** The session ended (grace over, stopped, VM gone, ...): its ticket reads `expired`. */
  ended(session: S, nowMs: number): void {
    this.#retire(session, 'expired', nowMs);
    this.#prune(nowMs);
  }

  #retire(session: S, state: 'used' | 'expired', nowMs: number): void {
    const ticket = this.#live.get(session);
    if (ticket === undefined) return;
    this.#live.delete(session);
    this.#entries.set(ticket, { state, forgetAtMs: nowMs + this.#memoryMs });
    this.observer?.retired(ticket, state);
  }

  /** Forgets used and ended tickets older than the memory (Map order = insertion order is not
   * expiry order after re-sets, so every entry is looked at; the map stays small). */
  #prune(nowMs: number): void {
    for (const [ticket, entry] of this.#entries) {
      if (entry.state !== 'live' && entry.forgetAtMs <= nowMs) this.#entries.delete(ticket);
    }
  }
}
