/**
 * Keeps this node's entries in the dial-in directory: a VM that dialled in to this node is
 * announced (node id, advertised address) and re-announced every third of a lease while it
 * stays connected; it is withdrawn when it leaves. A dead node's entries lapse within a lease.
 */
import type { DialInEvent } from '../dial-in.ts';
import type { TimerHandle } from '../session/timers.ts';
import type { ClusterRuntime } from './cluster-runtime.ts';

export class DialInAnnouncer {
  readonly #rt: ClusterRuntime;
  readonly #timers = new Map<string, TimerHandle>();
  /** VM connections per target: a reconnecting VM's new connection may come before the old one's close. */
  readonly #connections = new Map<string, number>();

  constructor(rt: ClusterRuntime) {
    this.#rt = rt;
  }

  /** A dial-in event of `target` (server events). */
  onDialInEvent(target: string | undefined, event: DialInEvent): void {
    if (target === undefined) return;
    const count = this.#connections.get(target) ?? 0;
    if (event.kind === 'vm-connected') {
      this.#connections.set(target, count + 1);
      this.#announce(target);
    } else if (event.kind === 'vm-disconnected') {
      if (count > 1) return void this.#connections.set(target, count - 1);
      this.#connections.delete(target);
      this.#withdraw(target);
    }
  }

  close(): void {
    for (const target of [...this.#timers.keys()]) this.#withdraw(target);
  }

  #announce(target: string): void {
    const rt = this.#rt;
    const entry = { targetId: target, nodeId: rt.nodeId, advertise: rt.advertise };
    rt.store.announceDialIn(entry, rt.leaseMs).catch(() => {}); // the next turn retries
    const old = this.#timers.get(target);
    if (old !== undefined) rt.timers.clear(old);
    this.#timers.set(
      target,
      rt.timers.set((t: string) => this.#announce(t), Math.floor(rt.leaseMs / 3), target),
    );
  }

  #withdraw(target: string): void {
    const timer = this.#timers.get(target);
    if (timer !== undefined) this.#rt.timers.clear(timer);
    this.#timers.delete(target);
    this.#rt.store.withdrawDialIn(target, this.#rt.nodeId).catch(() => {});
  }
}
