/**
 * The ticket directory: where a resume ticket's session runs, so that a reconnect that a load
 * balancer sends to another node reaches it (cluster/resume-link.ts). Each ticket this node
 * issues is recorded in the store under a hash of the ticket (never the ticket itself), with
 * this node's id and advertised address:
 *
 * - a live ticket for the grace period plus a margin, renewed every third of that while its
 *   session holds it (a session may hold one ticket for hours; a dead node's records lapse);
 * - a used or expired one for as long as this node remembers it (resume/tickets.ts), so that
 *   another node answers a replay `4017` and a late reconnect `4016` without asking.
 *
 * A ticket is offered to its client only once its live record is written ({@link recorded}),
 * so that any node finds it the moment the client holds it: a resume that a load balancer
 * sends to another node right after the offer is passed on, never refused as unknown. The
 * session does not wait for the write (it relays from the start); until a write succeeds
 * the client simply holds no ticket. A first write that fails or does not answer is tried
 * again every {@link RECORD_RETRY_MS} until one succeeds or the ticket is retired.
 *
 * A failed renewal is left to the next one; a used/expired record that was not written
 * leaves the live one, which routes the reconnect here, where the ledger answers it.
 */
import { createHash } from 'node:crypto';
import type { TicketObserver } from '../resume/tickets.ts';
import type { TimerHandle } from '../session/timers.ts';
import type { ClusterRuntime } from './cluster-runtime.ts';
import type { TicketRecord } from './store.ts';

/** Margin added to the grace for a live ticket's record, ms. */
const LIVE_MARGIN_MS = 5000;

/** How often a live record not written yet is tried again, ms. */
export const RECORD_RETRY_MS = 1000;

/** A live ticket whose record is not known to be written yet, and its waiter. */
interface Unrecorded {
  readonly promise: Promise<boolean>;
  readonly settle: (isRecorded: boolean) => void;
}

/** The key a ticket is recorded under: SHA-256 of it, base64url. */
export function ticketHash(ticket: string): string {
  return createHash('sha256').update('cardlend resume ticket\n').update(ticket).digest('base64url');
}

export class TicketDirectory implements TicketObserver {
  readonly #rt: ClusterRuntime;
  /** Hashes of the live tickets this node issued. */
  readonly #live = new Set<string>();
  /** Live tickets (by hash) whose record no write confirmed yet. */
  readonly #unrecorded = new Map<string, Unrecorded>();
  readonly #liveTtlMs: number;
  readonly #memoryMs: number;
  #timer: TimerHandle | undefined;
  #retryTimer: TimerHandle | undefined;

  constructor(rt: ClusterRuntime, opts: { readonly graceMs: number; readonly memoryMs: number }) {
    this.#rt = rt;
    this.#liveTtlMs = opts.graceMs + LIVE_MARGIN_MS;
    this.#memoryMs = opts.memoryMs;
  }

  /** Live tickets this node keeps recorded. */
  get size(): number {
    return this.#live.size;
  }

  /** Live tickets whose record is not known to be written yet. */
  get unrecorded(): number {
    return this.#unrecorded.size;
  }

  issued(ticket: string): void {
    const hash = ticketHash(ticket);
    this.#live.add(hash);
    let settle: (isRecorded: boolean) => void = () => {};
    const promise = new Promise<boolean>((resolve) => (settle = resolve));
    this.#unrecorded.set(hash, { promise, settle });
    this.#putLive(hash);
    const { timers } = this.#rt;
    if (this.#timer === undefined)
      this.#timer = timers.set(TicketDirectory.#renew, this.#liveTtlMs / 3, this);
    if (this.#retryTimer === undefined)
      this.#retryTimer = timers.set(TicketDirectory.#retry, RECORD_RETRY_MS, this);
  }

  /**
   * Resolves true once a write of the ticket's live record succeeded (at once if one did
   * already), false when the ticket is retired (or the node closes) before that.
   */
  recorded(ticket: string): Promise<boolean> {
    const hash = ticketHash(ticket);
    return this.#unrecorded.get(hash)?.promise ?? Promise.resolve(this.#live.has(hash));
  }

  retired(ticket: string, state: 'used' | 'expired'): void {
    const hash = ticketHash(ticket);
    this.#live.delete(hash);
    this.#settle(hash, false);
    this.#put(hash, state, this.#memoryMs);
  }

  /** Stops renewing (the node closes; its sessions have ended already). */
  close(): void {
    const { timers } = this.#rt;
    if (this.#timer !== undefined) timers.clear(this.#timer);
    if (this.#retryTimer !== undefined) timers.clear(this.#retryTimer);
    this.#timer = undefined;
    this.#retryTimer = undefined;
    for (const hash of [...this.#unrecorded.keys()]) this.#settle(hash, false);
  }

  static #renew(self: TicketDirectory): void {
    self.#timer = undefined;
    if (self.#live.size === 0) return;
    for (const hash of self.#live) self.#putLive(hash);
    self.#timer = self.#rt.timers.set(TicketDirectory.#renew, self.#liveTtlMs / 3, self);
  }

  static #retry(self: TicketDirectory): void {
    self.#retryTimer = undefined;
    if (self.#unrecorded.size === 0) return;
    for (const hash of self.#unrecorded.keys()) self.#putLive(hash);
    self.#retryTimer = self.#rt.timers.set(TicketDirectory.#retry, RECORD_RETRY_MS, self);
  }

  /** Writes (renews) a live record; the first write that succeeds releases its offer. */
  #putLive(hash: string): void {
    const { nodeId, advertise, store } = this.#rt;
    store.putTicket(hash, { nodeId, advertise, state: 'live' }, this.#liveTtlMs).then(
      () => this.#settle(hash, this.#live.has(hash)),
      () => {},
    );
  }

  #put(hash: string, state: TicketRecord['state'], ttlMs: number): void {
    const { nodeId, advertise, store } = this.#rt;
    store.putTicket(hash, { nodeId, advertise, state }, ttlMs).catch(() => {});
  }

  #settle(hash: string, isRecorded: boolean): void {
    const waiting = this.#unrecorded.get(hash);
    if (waiting === undefined) return;
    this.#unrecorded.delete(hash);
    waiting.settle(isRecorded);
  }
}
