/** The live node's VM lease on fake time: renewals, a lost lease, the store down, a pause. */
import { describe, expect, it } from 'vitest';
import { MemoryClusterStore } from '../../src/cluster/memory-store.ts';
import { StoreUnavailableError, type ClusterStore } from '../../src/cluster/store.ts';
import { VmLease } from '../../src/cluster/vm-lease.ts';
import type { SessionTimers } from '../../src/session/timers.ts';

/** Timers run only when the test advances the clock. */
class FakeClock implements SessionTimers {
  now = 0;
  #timers: { at: number; fn: (a: unknown) => void; arg: unknown; id: number }[] = [];
  #next = 0;
  set<A>(fn: (arg: A) => void, ms: number, arg: A): number {
    const id = ++this.#next;
    this.#timers.push({ at: this.now + ms, fn: fn as (a: unknown) => void, arg, id });
    return id;
  }
  clear(handle: unknown): void {
    this.#timers = this.#timers.filter((t) => t.id !== handle);
  }
  /** Advances to `now + ms`, running due timers in order (and the promises they start). */
  async advance(ms: number): Promise<void> {
    const end = this.now + ms;
    for (;;) {
      this.#timers.sort((a, b) => a.at - b.at);
      const t = this.#timers[0];
      if (!t || t.at > end) break;
      this.#timers.shift();
      this.now = t.at;
      t.fn(t.arg);
      for (let i = 0; i < 10; i++) await Promise.resolve();
    }
    this.now = end;
  }
  get pending(): number {
    return this.#timers.length;
  }
}

async function setup(store?: ClusterStore) {
  const clock = new FakeClock();
  const s = store ?? new MemoryClusterStore({ now: () => clock.now });
  const got = await s.acquireVm('vm1', 'node-a', 3000);
  if (!got.ok) throw new Error('not acquired');
  let lost = 0;
  const lease = new VmLease({
    store: s,
    grant: got.grant,
    leaseMs: 3000,
    timers: clock,
    now: () => clock.now,
    onLost: () => lost++,
  });
  return { clock, store: s, lease, lost: () => lost };
}

describe('VmLease', () => {
  it('renews every third of its length and keeps the VM for as long as it lives', async () => {
    const { clock, store, lease } = await setup();
    await clock.advance(30_000);
    expect(await store.vmHolder('vm1')).toBe('node-a');
    expect(lease.mayAct()).toBe(true);
    lease.release();
    expect(clock.pending).toBe(0);
    await clock.advance(10);
    expect(await store.vmHolder('vm1')).toBeUndefined();
  });

  it('a lease another node took is lost: onLost once, no more renewals', async () => {
    const { clock, store, lease, lost } = await setup();
    const s = store as MemoryClusterStore;
    // A long pause: the lease lapsed and node-b took the VM.
    clock.now += 3500;
    expect((await s.acquireVm('vm1', 'node-b', 3000)).ok).toBe(true);
    expect(lease.mayAct()).toBe(false);
    await clock.advance(1);
    expect(lost()).toBe(1);
    expect(lease.state).toBe('lost');
    expect(clock.pending).toBe(0);
    expect(await store.vmHolder('vm1')).toBe('node-b');
  });

  it('the store down: the lease goes on (attempts keep it actionable), and re-asserts after', async () => {
    const memory = new MemoryClusterStore({ now: () => 0 });
    let isDown = false;
    const flaky = new Proxy(memory, {
      get(target, prop, receiver) {
        const v = Reflect.get(target, prop, receiver) as unknown;
        if (prop === 'renewVm' && isDown)
          return () => Promise.reject(new StoreUnavailableError('down'));
        return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
      },
    });
    const { clock, lease, lost } = await setup(flaky);
    isDown = true;
    await clock.advance(20_000);
    expect(lost()).toBe(0);
    expect(lease.mayAct()).toBe(true);
    isDown = false;
    await clock.advance(1000);
    expect(lease.state).toBe('held');
  });
});
