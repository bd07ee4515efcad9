/**
 * A held VM lease on the live node: renewed every third of its length while the session
 * lives, released when it ends. Its fate on each renewal:
 * - `renewed` / `reasserted`: confirmed until now + lease;
 * - `lost` (another node took the VM since — this node was paused, or cut off from the store
 *   for longer than the lease while the store answered others): `onLost` ends the session;
 * - the store unreachable: the session goes on. No other node can take the VM while the store
 *   is down, and after it comes back every node waits one lease length before admitting
 *   (cluster-runtime.ts), in which this holder re-asserts its lease.
 *
 * A node that was paused does not act on a lease it may have lost: `mayAct` is false once the
 * lease is older than its length with no renewal attempt since, and the overdue renewal runs
 * first thing when the process runs again (its timer is the oldest one due).
 */
import type { SessionTimers, TimerHandle } from '../session/timers.ts';
import { StoreUnavailableError, type ClusterStore, type VmLeaseGrant } from './store.ts';

export interface VmLeaseOptions {
  readonly store: ClusterStore;
  readonly grant: VmLeaseGrant;
  readonly leaseMs: number;
  readonly timers: SessionTimers;
  readonly now: () => number;
  /** The lease is gone (another node holds the VM): end the session. Called once. */
  readonly onLost: () => void;
  /** A renewal failed for a reason other than the store being down (a bug): reported. */
  readonly onError?: (e: unknown) => void;
}

export class VmLease {
  readonly grant: VmLeaseGrant;
  readonly #o: VmLeaseOptions;
  #confirmedAt: number;
  #attemptAt: number;
  #timer: TimerHandle | undefined;
  #state: 'held' | 'lost' | 'released' = 'held';

  constructor(opts: VmLeaseOptions) {
    this.#o = opts;
    this.grant = opts.grant;
    this.#confirmedAt = opts.now();
    this.#attemptAt = this.#confirmedAt;
    this.#arm();
  }

  get state(): 'held' | 'lost' | 'released' {
    return this.#state;
  }

  /**
   * Whether this node may still act for the VM: the lease was confirmed within its length, or
   * a renewal was attempted within it (and found the store down).
   */
  mayAct(): boolean {
    if (this.#state !== 'held') return false;
    const now = this.#o.now();
    return now - this.#attemptAt < this.#o.leaseMs || now - this.#confirmedAt < this.#o.leaseMs;
  }

  /** Renews now (also what the timer does). */
  async renew(): Promise<void> {
    if (this.#state !== 'held') return;
    const startedAt = this.#o.now();
    this.#attemptAt = startedAt;
    try {
      const r = await this.#o.store.renewVm(this.grant, this.#o.leaseMs);
      if (this.#state !== 'held') return;
      if (r === 'lost') return this.#lose();
      this.#confirmedAt = startedAt;
    } catch (e) {
      if (!(e instanceof StoreUnavailableError)) this.#o.onError?.(e);
    }
    if (this.#state === 'held') this.#arm();
  }

  /** Ends the hold; idempotent. The store's lease is deleted if this grant still holds it. */
  release(): void {
    if (this.#state === 'released') return;
    const wasHeld = this.#state === 'held';
    this.#state = 'released';
    this.#disarm();
    if (wasHeld) this.#o.store.releaseVm(this.grant).catch(() => {}); // lapses by itself
  }

  #lose(): void {
    this.#state = 'lost';
    this.#disarm();
    this.#o.onLost();
  }

  #arm(): void {
    this.#disarm();
    this.#timer = this.#o.timers.set(
      (self: VmLease) => void self.renew(),
      Math.max(1, Math.floor(this.#o.leaseMs / 3)),
      this,
    );
  }

  #disarm(): void {
    if (this.#timer !== undefined) this.#o.timers.clear(this.#timer);
    this.#timer = undefined;
  }
}
