/**
 * The state a relay cluster shares (issue 15), as one seam with two implementations: the
 * embedded one (memory-store.ts: one process, nothing else to run — today's behaviour) and
 * the Redis-protocol one (redis-store.ts: several nodes on one Redis/Valkey server).
 *
 * Three states:
 * - **token claims**: a single-use token id is claimed once, cluster-wide, until it expires;
 * - **VM leases**: the one-browser-per-VM lock as a lease with a fencing token. The holder
 *   renews it every third of its length (vm-lease.ts); a dead node's lease lapses by itself
 *   within one lease length; a renewal names the fence it holds, so a node that was paused
 *   while another took the VM learns that it lost it instead of extending someone else's;
 * - **the dial-in directory**: which node holds which parked dial-in VM (its advertised
 *   address), as an entry that lapses like a lease when the node dies;
 * - **the ticket directory**: which node holds the session of a resume ticket, and whether the
 *   ticket is live, used or expired (cluster/ticket-directory.ts), keyed by a hash of the
 *   ticket — never the ticket itself.
 *
 * Every method may reject with {@link StoreUnavailableError} when the store cannot be reached
 * (never for a refusal: those are results).
 */

/** The store cannot be reached (or did not answer in time); the operation did nothing known. */
export class StoreUnavailableError extends Error {
  override readonly name = 'StoreUnavailableError';
  readonly code = 'STORE_UNAVAILABLE';
}

/** Result of {@link ClusterStore.claimToken}. */
export type TokenClaimResult =
  { readonly ok: true } | { readonly ok: false; readonly reason: 'used' };

/** A held VM lease: who holds it and the fence (grows with every new holder of that VM). */
export interface VmLeaseGrant {
  readonly targetId: string;
  /** `<node id>/<fence>/<nonce>`: what the store holds for this lease. */
  readonly holder: string;
  readonly fence: number;
}

/** Result of {@link ClusterStore.acquireVm}. */
export type VmAcquireResult =
  | {
      readonly ok: true;
      readonly grant: VmLeaseGrant;
      /**
       * The previous holder's lease lapsed without a release (its node died): the VM may still
       * hold that session's card, so the new holder removes it first (cluster/takeover.ts).
       */
      readonly isAfterLapse: boolean;
    }
  | { readonly ok: false; readonly reason: 'held'; readonly holderNode: string };

/** Result of {@link ClusterStore.renewVm}: renewed, re-asserted after the store lost it, or lost. */
export type VmRenewResult = 'renewed' | 'reasserted' | 'lost';

/** A dial-in VM parked on some node. */
export interface DirectoryEntry {
  readonly targetId: string;
  readonly nodeId: string;
  /** Where other nodes reach that node (`--advertise`). */
  readonly advertise: string;
}

/** Where a resume ticket's session runs (keyed by the ticket's hash in the store). */
export interface TicketRecord {
  readonly nodeId: string;
  /** Where other nodes reach that node (`--advertise`). */
  readonly advertise: string;
  /** `live`: its session holds it; `used`, `expired`: as in resume/tickets.ts. */
  readonly state: 'live' | 'used' | 'expired';
}

/** A live session as the operator API lists it (never payloads). */
export interface SessionRecord {
  readonly node: string;
  readonly sessionId: number;
  readonly target: string;
  readonly clientAddress: string;
  /** Unix ms. */
  readonly since: number;
  readonly apduCount: number;
}

/** The shared state of a relay cluster. */
export interface ClusterStore {
  /** Claims a single-use token id until `ttlMs` from now; `used` when it was claimed before. */
  claimToken(jti: string, ttlMs: number): Promise<TokenClaimResult>;
  /** Takes the VM lease of a free target for `leaseMs`. */
  acquireVm(targetId: string, nodeId: string, leaseMs: number): Promise<VmAcquireResult>;
  /**
   * Extends a held lease by `leaseMs`. A lease that lapsed with no newer holder of the VM (the
   * store restarted empty, or this node was slow) is taken again (`reasserted`); one another
   * node took since is `lost`.
   */
  renewVm(grant: VmLeaseGrant, leaseMs: number): Promise<VmRenewResult>;
  /** Frees a lease this grant still holds (a lease held by someone else is left alone). */
  releaseVm(grant: VmLeaseGrant): Promise<void>;
  /** The node holding a target's lease now, if any. */
  vmHolder(targetId: string): Promise<string | undefined>;
  /** Announces (or renews) that this node holds a parked dial-in VM, for `ttlMs`. */
  announceDialIn(entry: DirectoryEntry, ttlMs: number): Promise<void>;
  /** Withdraws an announcement made by `nodeId` (another node's is left alone). */
  withdrawDialIn(targetId: string, nodeId: string): Promise<void>;
  /** Where a dial-in VM is parked, if any node announced it. */
  findDialIn(targetId: string): Promise<DirectoryEntry | undefined>;
  /** Records (renews, or overwrites) the ticket with this hash for `ttlMs`. */
  putTicket(ticketHash: string, record: TicketRecord, ttlMs: number): Promise<void>;
  /** The record of the ticket with this hash, if any lives. */
  findTicket(ticketHash: string): Promise<TicketRecord | undefined>;
  /** Replaces this node's published live sessions (they lapse after `ttlMs` unless renewed). */
  publishSessions(nodeId: string, sessions: readonly SessionRecord[], ttlMs: number): Promise<void>;
  /** Every node's published live sessions. */
  listSessions(): Promise<SessionRecord[]>;
  /** Asks `nodeId` to end one of its sessions (the request lapses after `ttlMs`). */
  requestEnd(nodeId: string, sessionId: number, ttlMs: number): Promise<void>;
  /** The session ids the operator asked this node to end, removed from the store. */
  takeEndRequests(nodeId: string): Promise<number[]>;
  /** Whether the store answers now (readiness, metrics); changes are reported to listeners. */
  readonly isAvailable: boolean;
  /** Calls `listener(isAvailable)` on every change; returns the unsubscribe function. */
  onAvailability(listener: (isAvailable: boolean) => void): () => void;
  close(): Promise<void>;
}

/** `<node>/<fence>/<nonce>` → its node id. */
export function nodeOfHolder(holder: string): string {
  const slash = holder.indexOf('/');
  return slash < 0 ? holder : holder.slice(0, slash);
}
