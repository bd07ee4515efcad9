/**
 * One node's view of its cluster: the store, its node id and advertised address, the lease
 * length, and whether new sessions may be admitted now. After the store was unreachable, the
 * node waits one lease length before admitting again, so that every live session on every
 * node has re-asserted its VM lease (vm-lease.ts) in a store that may have restarted empty.
 */
import type net from 'node:net';
import type { DialInEvent } from '../dial-in.ts';
import { TICKET_REFUSALS } from '../resume/tickets.ts';
import { NODE_TIMERS, type SessionTimers } from '../session/timers.ts';
import type { TlsMaterial } from '../tls-files.ts';
import type { ResumeHello } from './link-auth.ts';
import { encodeCloseFrame } from './link-frames.ts';
import type { LinkTlsClient } from './link-tls.ts';
import type { ClusterStore, VmLeaseGrant } from './store.ts';
import type { TakeoverMarks } from './takeover.ts';
import { VmLease } from './vm-lease.ts';

/** Default VM lease: a dead node's VMs are free again within 3 s. */
export const DEFAULT_LEASE_MS = 3000;

/** Whether the node admits new sessions: `up`, `down` (store unreachable), `recovering`. */
export type ClusterStatus = 'up' | 'down' | 'recovering';

export interface ClusterRuntimeOptions {
  readonly store: ClusterStore;
  readonly nodeId: string;
  readonly advertise: string;
  readonly leaseMs?: number;
  readonly timers?: SessionTimers;
  readonly now?: () => number;
  /** Status changes (readiness, metrics, logs). */
  readonly onStatus?: (status: ClusterStatus) => void;
  readonly linkKey?: Uint8Array;
  /** TLS for the links this node dials (config `cluster.linkTls`); none: plain TCP. */
  readonly linkTls?: LinkTlsClient | undefined;
  /** A link to another node failed (logged; never payloads or tickets). */
  readonly onLinkFailure?: (message: string) => void;
}

export class ClusterRuntime {
  readonly store: ClusterStore;
  readonly nodeId: string;
  readonly advertise: string;
  readonly leaseMs: number;
  readonly timers: SessionTimers;
  readonly now: () => number;
  readonly #onStatus: (status: ClusterStatus) => void;
  #wasDown = false;
  #recoveryTimer: unknown;
  readonly #unsubscribe: () => void;
  readonly leases = new Set<VmLease>();
  /** Key of the internal link between nodes (link-auth.ts); none without token secrets. */
  readonly linkKey: Uint8Array | undefined;
  /** TLS of the links this node dials; undefined: plain TCP (cluster/link-tls.ts). */
  readonly linkTls: LinkTlsClient | undefined;
  /** Reports a failed link to another node (the log). */
  readonly onLinkFailure: (message: string) => void;
  readonly #closers: (() => Promise<void> | void)[] = [];
  /** Locks whose session takes over a VM whose last holder died (cluster/takeover.ts). */
  readonly takeovers: TakeoverMarks = new WeakSet();
  /** How long a takeover waits for QEMU's acks of the stale card's removal, ms. */
  readonly takeoverAckTimeoutMs = 1000;

  constructor(opts: ClusterRuntimeOptions) {
    this.store = opts.store;
    this.nodeId = opts.nodeId;
    this.advertise = opts.advertise;
    this.leaseMs = opts.leaseMs ?? DEFAULT_LEASE_MS;
    this.timers = opts.timers ?? NODE_TIMERS;
    this.now = opts.now ?? Date.now;
    this.#onStatus = opts.onStatus ?? (() => {});
    this.linkKey = opts.linkKey;
    this.linkTls = opts.linkTls;
    this.onLinkFailure = opts.onLinkFailure ?? (() => {});
    this.#wasDown = !opts.store.isAvailable;
    this.#unsubscribe = opts.store.onAvailability((up) => this.#availability(up));
  }

  get status(): ClusterStatus {
    if (!this.store.isAvailable) return 'down';
    return this.#recoveryTimer !== undefined ? 'recovering' : 'up';
  }

  /** Holds a granted lease until `released` resolves; `onLost` when another node took the VM. */
  hold(grant: VmLeaseGrant, released: Promise<void>, onLost: () => void): VmLease {
    const lease = new VmLease({
      store: this.store,
      grant,
      leaseMs: this.leaseMs,
      timers: this.timers,
      now: this.now,
      onLost: () => {
        this.leases.delete(lease);
        onLost();
      },
    });
    this.leases.add(lease);
    void released.then(() => {
      this.leases.delete(lease);
      lease.release();
    });
    return lease;
  }

  /** Dial-in events of this node's targets, for the directory (set by cluster/wiring.ts). */
  onDialInEvent: (target: string | undefined, event: DialInEvent) => void = () => {};

  /**
   * A resume another node passes on over the link (`OK` written; set by
   * cluster/resume-link.ts). Until then: this node knows no such session (4018).
   */
  onResumeLink: (hello: ResumeHello, socket: net.Socket, head: Buffer) => void = (_h, socket) => {
    const { code, reason } = TICKET_REFUSALS.unknown;
    socket.end(encodeCloseFrame(code, reason));
    socket.resume();
  };

  /**
   * Serves and dials new links with new TLS material (SIGHUP; set by cluster/wiring.ts when
   * the link has TLS); live links keep theirs.
   */
  useLinkTls: (material: TlsMaterial) => void = () => {};

  /** Runs `closer` when the runtime closes (link server, directory entries). */
  onClose(closer: () => Promise<void> | void): void {
    this.#closers.push(closer);
  }

  async close(): Promise<void> {
    for (const c of this.#closers.splice(0).reverse()) await c();
    this.#unsubscribe();
    if (this.#recoveryTimer !== undefined) this.timers.clear(this.#recoveryTimer);
    for (const l of this.leases) l.release();
    return this.store.close();
  }

  #availability(isUp: boolean): void {
    if (!isUp) {
      this.#wasDown = true;
      this.#onStatus('down');
      return;
    }
    if (!this.#wasDown) return this.#onStatus('up');
    this.#wasDown = false;
    for (const l of this.leases) void l.renew();
    if (this.#recoveryTimer !== undefined) this.timers.clear(this.#recoveryTimer);
    // Re-assert every lease at once rather than at its next turn, and admit after one lease.
    this.#recoveryTimer = this.timers.set(
      (self: ClusterRuntime) => {
        self.#recoveryTimer = undefined;
        self.#onStatus(self.status);
      },
      this.leaseMs,
      this,
    );
    this.#onStatus('recovering');
  }
}
