/**
 * The ticket directory with the embedded store and held time: a ticket's record names this
 * node while its session holds it (renewed), then says used or expired for the ledger's
 * memory; the store never sees the ticket itself.
 */
import { describe, expect, it } from 'vitest';
import { ClusterRuntime } from '../../src/cluster/cluster-runtime.ts';
import { MemoryClusterStore } from '../../src/cluster/memory-store.ts';
import {
  RECORD_RETRY_MS,
  TicketDirectory,
  ticketHash,
} from '../../src/cluster/ticket-directory.ts';
import { ResumeTickets } from '../../src/resume/tickets.ts';
import type { SessionTimers, TimerHandle } from '../../src/session/timers.ts';
import { TicketWriteGate } from './ticket-write-gate.ts';

/** Timers run by the test: `advance(ms)` moves the clock and runs what is due. */
class Clock implements SessionTimers {
  now = 1_000_000;
  readonly #due = new Map<number, { at: number; run: () => void }>();
  #id = 0;

  set<A>(fn: (arg: A) => void, ms: number, arg: A): TimerHandle {
    this.#due.set(++this.#id, { at: this.now + ms, run: () => fn(arg) });
    return this.#id;
  }

  clear(handle: TimerHandle): void {
    this.#due.delete(handle as number);
  }

  get pending(): number {
    return this.#due.size;
  }

  advance(ms: number): void {
    const end = this.now + ms;
    for (;;) {
      const next = [...this.#due].sort((a, b) => a[1].at - b[1].at)[0];
      if (next === undefined || next[1].at > end) break;
      this.#due.delete(next[0]);
      this.now = next[1].at;
      next[1].run();
    }
    this.now = end;
  }
}

const GRACE_MS = 30_000;
const MEMORY_MS = 600_000;

function setup() {
  const clock = new Clock();
  const gate = new TicketWriteGate();
  const store = gate.wrap(new MemoryClusterStore({ now: () => clock.now }));
  const rt = new ClusterRuntime({
    store,
    nodeId: 'a',
    advertise: '10.0.0.1:8443',
    timers: clock,
    now: () => clock.now,
  });
  const tickets = new ResumeTickets<object>(MEMORY_MS);
  const directory = new TicketDirectory(rt, { graceMs: GRACE_MS, memoryMs: MEMORY_MS });
  tickets.observer = directory;
  const find = (t: string) => store.findTicket(ticketHash(t));
  return { clock, gate, tickets, directory, find };
}

/** Whether `p` has settled, and with what (after the microtasks queued so far). */
async function settled<T>(p: Promise<T>): Promise<{ value: T } | 'pending'> {
  let out: { value: T } | 'pending' = 'pending';
  void p.then((value) => (out = { value }));
  for (let i = 0; i < 10; i++) await Promise.resolve();
  return out;
}

const random = (n: number) => new Uint8Array(16).fill(n);

describe('ticket directory', () => {
  it('keeps a held ticket recorded for hours (renewed), then used, then forgotten', async () => {
    const { clock, tickets, directory, find } = setup();
    const session = {};
    const t1 = tickets.issue(session, 'https://a.example', random(1), clock.now);
    expect(await find(t1)).toEqual({ nodeId: 'a', advertise: '10.0.0.1:8443', state: 'live' });
    clock.advance(3 * 3600_000);
    expect((await find(t1))?.state).toBe('live');
    // The session resumes: the old ticket reads used, the new one live.
    const claim = tickets.claim(t1, 'https://a.example', clock.now);
    expect(claim.ok).toBe(true);
    const t2 = tickets.issue(session, 'https://a.example', random(2), clock.now);
    expect((await find(t1))?.state).toBe('used');
    expect((await find(t2))?.state).toBe('live');
    expect(directory.size).toBe(1);
    clock.advance(MEMORY_MS);
    expect(await find(t1)).toBeUndefined();
    expect((await find(t2))?.state).toBe('live');
  });

  it('a session that ends leaves its ticket expired; nothing renews after that', async () => {
    const { clock, tickets, directory, find } = setup();
    const session = {};
    const t = tickets.issue(session, undefined, random(3), clock.now);
    tickets.ended(session, clock.now);
    expect((await find(t))?.state).toBe('expired');
    expect(directory.size).toBe(0);
    clock.advance(GRACE_MS); // the renewal turn finds nothing live and stops
    expect(clock.pending).toBe(0);
    expect((await find(t))?.state).toBe('expired');
  });

  it('a node that stops renewing (closed, or dead) loses its live records within grace + margin', async () => {
    const { clock, tickets, directory, find } = setup();
    const t = tickets.issue({}, undefined, random(4), clock.now);
    directory.close();
    clock.advance(GRACE_MS + 5000);
    expect(await find(t)).toBeUndefined();
  });

  it('says a ticket is recorded only once a write of its live record succeeded', async () => {
    const { gate, tickets, directory, find } = setup();
    gate.mode = 'hold';
    const t = tickets.issue({}, undefined, random(5), 0);
    const recorded = tickets.recorded(t);
    if (recorded === undefined) throw new Error('a directory must say when a ticket is recorded');
    expect(await settled(recorded)).toBe('pending');
    expect(directory.unrecorded).toBe(1);
    await gate.release();
    expect(await settled(recorded)).toEqual({ value: true });
    expect((await find(t))?.state).toBe('live');
    expect(directory.unrecorded).toBe(0);
    expect(await tickets.recorded(t)).toBe(true); // asked again: at once
  });

  it('tries a refused first write again every RECORD_RETRY_MS until one succeeds', async () => {
    const { clock, gate, tickets, directory, find } = setup();
    gate.mode = 'fail';
    const t = tickets.issue({}, undefined, random(6), clock.now);
    const recorded = tickets.recorded(t) as Promise<boolean>;
    clock.advance(RECORD_RETRY_MS);
    clock.advance(RECORD_RETRY_MS);
    expect(gate.writes).toEqual(['live', 'live', 'live']);
    expect(await settled(recorded)).toBe('pending');
    gate.mode = 'pass';
    clock.advance(RECORD_RETRY_MS);
    expect(await settled(recorded)).toEqual({ value: true });
    expect((await find(t))?.state).toBe('live');
    clock.advance(RECORD_RETRY_MS); // recorded: no more retries (renewals only)
    expect(gate.writes).toEqual(['live', 'live', 'live', 'live']);
    expect(directory.unrecorded).toBe(0);
  });

  it('a ticket retired (or a node closed) before its record was written is never offered', async () => {
    const { clock, gate, tickets, directory } = setup();
    gate.mode = 'fail';
    const session = {};
    const t1 = tickets.issue(session, undefined, random(7), clock.now);
    const first = tickets.recorded(t1) as Promise<boolean>;
    tickets.ended(session, clock.now);
    expect(await settled(first)).toEqual({ value: false });
    expect(await tickets.recorded(t1)).toBe(false);
    const t2 = tickets.issue({}, undefined, random(8), clock.now);
    const second = tickets.recorded(t2) as Promise<boolean>;
    directory.close();
    expect(await settled(second)).toEqual({ value: false });
    expect(clock.pending).toBe(0);
  });

  it('records a hash: not the ticket, and not a hash another ticket shares', () => {
    const t = 'r1.ABCDEFGHIJKLMNOPQRSTUV';
    expect(ticketHash(t)).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(ticketHash(t)).not.toContain(t.slice(3));
    expect(ticketHash(t)).not.toBe(ticketHash('r1.ABCDEFGHIJKLMNOPQRSTUW'));
  });
});
