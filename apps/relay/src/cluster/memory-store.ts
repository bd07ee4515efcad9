/**
 * The embedded {@link ClusterStore}: one process, in memory, time injected. Same semantics as
 * the Redis-protocol store (the shared contract test runs against both), so a single relay
 * behaves as one node of a cluster would.
 */
import { randomBytes } from 'node:crypto';
import {
  nodeOfHolder,
  type ClusterStore,
  type DirectoryEntry,
  type SessionRecord,
  type TicketRecord,
  type TokenClaimResult,
  type VmAcquireResult,
  type VmLeaseGrant,
  type VmRenewResult,
} from './store.ts';

interface Expiring<T> {
  value: T;
  expiresAt: number;
}

export class MemoryClusterStore implements ClusterStore {
  readonly #now: () => number;
  readonly #tokens = new Map<string, number>();
  readonly #leases = new Map<string, Expiring<string>>();
  /** Last fence handed out per target (never forgotten: fences only grow). */
  readonly #fences = new Map<string, number>();
  readonly #directory = new Map<string, Expiring<DirectoryEntry>>();
  /** Targets whose last lease was not released (it lapsed). */
  readonly #unclean = new Set<string>();
  readonly #tickets = new Map<string, Expiring<TicketRecord>>();
  #ticketSweepAt = 1024;
  readonly #sessions = new Map<string, Expiring<SessionRecord[]>>();
  readonly #ends = new Map<string, Set<number>>();

  constructor(opts: { now?: () => number } = {}) {
    this.#now = opts.now ?? Date.now;
  }

  get isAvailable(): boolean {
    return true;
  }

  onAvailability(): () => void {
    return () => {};
  }

  claimToken(jti: string, ttlMs: number): Promise<TokenClaimResult> {
    const now = this.#now();
    this.#pruneTokens(now);
    if ((this.#tokens.get(jti) ?? 0) > now) return Promise.resolve({ ok: false, reason: 'used' });
    this.#tokens.set(jti, now + ttlMs);
    return Promise.resolve({ ok: true });
  }

  acquireVm(targetId: string, nodeId: string, leaseMs: number): Promise<VmAcquireResult> {
    const held = this.#live(this.#leases, targetId);
    if (held !== undefined)
      return Promise.resolve({ ok: false, reason: 'held', holderNode: nodeOfHolder(held) });
    const fence = (this.#fences.get(targetId) ?? 0) + 1;
    this.#fences.set(targetId, fence);
    const holder = `${nodeId}/${fence}/${randomBytes(6).toString('base64url')}`;
    this.#leases.set(targetId, { value: holder, expiresAt: this.#now() + leaseMs });
    const isAfterLapse = this.#unclean.has(targetId);
    this.#unclean.add(targetId);
    return Promise.resolve({ ok: true, grant: { targetId, holder, fence }, isAfterLapse });
  }

  renewVm(grant: VmLeaseGrant, leaseMs: number): Promise<VmRenewResult> {
    const held = this.#live(this.#leases, grant.targetId);
    const expiresAt = this.#now() + leaseMs;
    if (held === grant.holder) {
      this.#leases.set(grant.targetId, { value: held, expiresAt });
      return Promise.resolve('renewed');
    }
    if (held === undefined && (this.#fences.get(grant.targetId) ?? 0) <= grant.fence) {
      this.#leases.set(grant.targetId, { value: grant.holder, expiresAt });
      return Promise.resolve('reasserted');
    }
    return Promise.resolve('lost');
  }

  releaseVm(grant: VmLeaseGrant): Promise<void> {
    if (this.#leases.get(grant.targetId)?.value === grant.holder) {
      this.#leases.delete(grant.targetId);
      this.#unclean.delete(grant.targetId);
    }
    return Promise.resolve();
  }

  vmHolder(targetId: string): Promise<string | undefined> {
    const held = this.#live(this.#leases, targetId);
    return Promise.resolve(held === undefined ? undefined : nodeOfHolder(held));
  }

  announceDialIn(entry: DirectoryEntry, ttlMs: number): Promise<void> {
    this.#directory.set(entry.targetId, { value: { ...entry }, expiresAt: this.#now() + ttlMs });
    return Promise.resolve();
  }

  withdrawDialIn(targetId: string, nodeId: string): Promise<void> {
    if (this.#directory.get(targetId)?.value.nodeId === nodeId) this.#directory.delete(targetId);
    return Promise.resolve();
  }

  findDialIn(targetId: string): Promise<DirectoryEntry | undefined> {
    return Promise.resolve(this.#live(this.#directory, targetId));
  }

  putTicket(ticketHash: string, record: TicketRecord, ttlMs: number): Promise<void> {
    const now = this.#now();
    // Lapsed records are forgotten each time the map doubled since the last sweep.
    if (this.#tickets.size >= this.#ticketSweepAt) {
      for (const [h, e] of this.#tickets) if (e.expiresAt <= now) this.#tickets.delete(h);
      this.#ticketSweepAt = Math.max(1024, 2 * this.#tickets.size);
    }
    this.#tickets.set(ticketHash, { value: { ...record }, expiresAt: now + ttlMs });
    return Promise.resolve();
  }

  findTicket(ticketHash: string): Promise<TicketRecord | undefined> {
    return Promise.resolve(this.#live(this.#tickets, ticketHash));
  }

  publishSessions(
    nodeId: string,
    sessions: readonly SessionRecord[],
    ttlMs: number,
  ): Promise<void> {
    this.#sessions.set(nodeId, { value: [...sessions], expiresAt: this.#now() + ttlMs });
    return Promise.resolve();
  }

  listSessions(): Promise<SessionRecord[]> {
    return Promise.resolve(
      [...this.#sessions.keys()].flatMap((node) => this.#live(this.#sessions, node) ?? []),
    );
  }

  requestEnd(nodeId: string, sessionId: number): Promise<void> {
    const ids = this.#ends.get(nodeId) ?? new Set<number>();
    ids.add(sessionId);
    this.#ends.set(nodeId, ids);
    return Promise.resolve();
  }

  takeEndRequests(nodeId: string): Promise<number[]> {
    const ids = [...(this.#ends.get(nodeId) ?? [])];
    this.#ends.delete(nodeId);
    return Promise.resolve(ids);
  }

  close(): Promise<void> {
    return Promise.resolve();
  }

  #live<T>(map: Map<string, Expiring<T>>, key: string): T | undefined {
    const e = map.get(key);
    if (e === undefined) return undefined;
    if (e.expiresAt > this.#now()) return e.value;
    map.delete(key);
    return undefined;
  }

  #pruneTokens(now: number): void {
    if (this.#tokens.size < 1024) return;
    for (const [jti, until] of this.#tokens) if (until <= now) this.#tokens.delete(jti);
  }
}
