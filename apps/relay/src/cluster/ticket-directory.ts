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
 * A failed write is left to the next renewal; a used/expired record that was not written
 * leaves the live one, which routes the reconnect here, where the ledger answers it.
 */
import { createHash } from 'node:crypto';
import type { TicketObserver } from '../resume/tickets.ts';
import type { TimerHandle } from '../session/timers.ts';
import type { ClusterRuntime } from './cluster-runtime.ts';
import type { TicketRecord } from './store.ts';

/** Margin added to the grace for a live ticket's record, ms. */
const LIVE_MARGIN_MS = 5000;

/** The key a ticket is recorded under: SHA-256 of it, base64url. */
export function ticketHash(ticket: string): string {
  return createHash('sha256').update('cardlend resume ticket\n').update(ticket).digest('base64url');
}

export class TicketDirectory implements TicketObserver {
  readonly #rt: ClusterRuntime;
  /** Hashes of the live tickets this node issued. */
  readonly #live = new Set<string>();
  readonly #liveTtlMs: number;
  readonly #memoryMs: number;
  #timer: TimerHandle | undefined;

  constructor(rt: ClusterRuntime, opts: { readonly graceMs: number; readonly memoryMs: number }) {
    this.#rt = rt;
    this.#liveTtlMs = opts.graceMs + LIVE_MARGIN_MS;
    this.#memoryMs = opts.memoryMs;
  }

  /** Live tickets this node keeps recorded. */
  get size(): number {
    return this.#live.size;
  }

  issued(ticket: string): void {
    const hash = ticketHash(ticket);
    this.#live.add(hash);
    this.#put(hash, 'live', this.#liveTtlMs);
    if (this.#timer === undefined)
      this.#timer = this.#rt.timers.set(TicketDirectory.#renew, this.#liveTtlMs / 3, this);
  }

  retired(ticket: string, state: 'used' | 'expired'): void {
    const hash = ticketHash(ticket);
    this.#live.delete(hash);
    this.#put(hash, state, this.#memoryMs);
  }

  /** Stops renewing (the node closes; its sessions have ended already). */
  close(): void {
    if (this.#timer !== undefined) this.#rt.timers.clear(this.#timer);
    this.#timer = undefined;
  }

  static #renew(self: TicketDirectory): void {
    self.#timer = undefined;
    if (self.#live.size === 0) return;
    for (const hash of self.#live) self.#put(hash, 'live', self.#liveTtlMs);
    self.#timer = self.#rt.timers.set(TicketDirectory.#renew, self.#liveTtlMs / 3, self);
  }

  #put(hash: string, state: TicketRecord['state'], ttlMs: number): void {
    const { nodeId, advertise, store } = this.#rt;
    store.putTicket(hash, { nodeId, advertise, state }, ttlMs).catch(() => {});
  }
}
