import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DeadlineWatchdog, type WatchdogTimers } from '../src/webusb/deadline-watchdog.ts';

/** A hand-driven clock and timer list that records every call. */
class ManualTimers implements WatchdogTimers {
  nowMs = 0;
  /** The wall clock's offset from the timers' time (a clock set back or forth). */
  wallOffsetMs = 0;
  readonly armed = new Map<number, { fn: () => void; atMs: number; isRefed: boolean }>();
  readonly calls = { setTimeout: 0, clearTimeout: 0 };
  #next = 1;

  now(): number {
    return this.nowMs + this.wallOffsetMs;
  }

  setTimeout(fn: () => void, ms: number): unknown {
    this.calls.setTimeout++;
    const id = this.#next++;
    const entry = { fn, atMs: this.nowMs + ms, isRefed: true };
    this.armed.set(id, entry);
    // A Node-like handle: ref/unref toggle whether it keeps the process alive.
    return {
      id,
      ref: () => void (entry.isRefed = true),
      unref: () => void (entry.isRefed = false),
    };
  }

  clearTimeout(handle: unknown): void {
    this.calls.clearTimeout++;
    this.armed.delete((handle as { id: number }).id);
  }

  /** Moves the clock to `ms`, firing due timers in time order (each at its own time). */
  advanceTo(ms: number): void {
    for (;;) {
      let first: [number, { fn: () => void; atMs: number }] | undefined;
      for (const e of this.armed) if (!first || e[1].atMs < first[1].atMs) first = e;
      if (!first || first[1].atMs > ms) break;
      this.armed.delete(first[0]);
      this.nowMs = Math.max(this.nowMs, first[1].atMs);
      first[1].fn();
    }
    this.nowMs = ms;
  }
}

/** A wait as AnswerWait is one: a deadline, and the time it expired at. */
class Wait {
  deadlineMs = Number.POSITIVE_INFINITY;
  expiredAt: number | undefined;
  readonly clock: ManualTimers;
  readonly name: string;
  readonly order: string[] | undefined;
  constructor(clock: ManualTimers, name = '', order?: string[]) {
    this.clock = clock;
    this.name = name;
    this.order = order;
  }
  expire(): void {
    this.expiredAt = this.clock.nowMs;
    this.order?.push(this.name);
  }
  startIn(w: DeadlineWatchdog, ms: number): this {
    this.deadlineMs = w.now() + ms;
    w.watch(this);
    return this;
  }
}

/** A watchdog on a manual clock watching one wait due in `ms`, and its timer entry. */
function watchOne(ms: number) {
  const t = new ManualTimers();
  const w = new DeadlineWatchdog(t);
  const wait = new Wait(t).startIn(w, ms);
  const [entry] = t.armed.values();
  return { t, w, wait, entry: entry! };
}

describe('DeadlineWatchdog', () => {
  it('back-to-back waits with one timeout arm one timer (not one per wait), clear none', () => {
    const t = new ManualTimers();
    const w = new DeadlineWatchdog(t);
    for (let i = 0; i < 200; i++) {
      const wait = new Wait(t).startIn(w, 1000);
      t.advanceTo(t.nowMs + 2); // the answer comes 2 ms later
      w.forget(wait);
    }
    // 400 ms of commands: the timer armed by the first one has not fired yet.
    expect(t.calls).toEqual({ setTimeout: 1, clearTimeout: 0 });
    t.advanceTo(1000); // it fires, finds nothing due and nothing watched: no new timer
    expect(t.calls.setTimeout).toBe(1);
    expect(t.armed.size).toBe(0);
  });

  it('a deadline still expires on time when the timer was armed for an earlier, ended wait', () => {
    const t = new ManualTimers();
    const w = new DeadlineWatchdog(t);
    const first = new Wait(t).startIn(w, 100);
    t.advanceTo(10);
    w.forget(first);
    t.advanceTo(50);
    const second = new Wait(t).startIn(w, 100); // due at 150; the timer is armed for 100
    t.advanceTo(149);
    expect(second.expiredAt).toBeUndefined();
    t.advanceTo(400);
    expect(second.expiredAt).toBe(150);
    expect(first.expiredAt).toBeUndefined();
    expect(t.calls.setTimeout).toBe(2);
  });

  it('re-arms early only for an earlier deadline', () => {
    const t = new ManualTimers();
    const w = new DeadlineWatchdog(t);
    const slow = new Wait(t).startIn(w, 10_000);
    const later = new Wait(t).startIn(w, 20_000);
    expect(t.calls).toEqual({ setTimeout: 1, clearTimeout: 0 });
    const quick = new Wait(t).startIn(w, 300);
    expect(t.calls).toEqual({ setTimeout: 2, clearTimeout: 1 });
    t.advanceTo(30_000);
    expect([quick.expiredAt, slow.expiredAt, later.expiredAt]).toEqual([300, 10_000, 20_000]);
  });

  it('a deadline moved later (time extension) expires at the new time, not the old one', () => {
    const { t, w, wait } = watchOne(100);
    t.advanceTo(99);
    wait.startIn(w, 300); // due at 399; no re-arm, the timer at 100 re-arms when it fires
    expect(t.calls).toEqual({ setTimeout: 1, clearTimeout: 0 });
    t.advanceTo(398);
    expect(wait.expiredAt).toBeUndefined();
    t.advanceTo(399);
    expect(wait.expiredAt).toBe(399);
    expect(w.watching).toBe(0);
  });

  it('the armed deadline is due when its timer fires, even if the clock lags behind', () => {
    const { t, wait, entry } = watchOne(100);
    entry.atMs = 97; // the platform fires 3 ms early, as a timer per wait would have
    t.advanceTo(97);
    expect(wait.expiredAt).toBe(97);
    // The wall clock set back an hour: the armed deadline still comes on time.
    const { t: t2, w: w2, wait: first } = watchOne(100);
    const second = new Wait(t2).startIn(w2, 150);
    t2.advanceTo(10);
    t2.wallOffsetMs = -3_600_000;
    t2.advanceTo(100);
    expect(first.expiredAt).toBe(100);
    expect(second.expiredAt).toBeUndefined();
  });

  it('equal deadlines expire in the order they were watched; one firing expires all that are due', () => {
    const t = new ManualTimers();
    const w = new DeadlineWatchdog(t);
    const order: string[] = [];
    new Wait(t, 'b', order).startIn(w, 50);
    t.advanceTo(20);
    new Wait(t, 'c', order).startIn(w, 30);
    new Wait(t, 'a', order).startIn(w, 10);
    t.advanceTo(100);
    expect(order).toEqual(['a', 'b', 'c']);
  });

  it('stop() clears the timer and nothing expires afterwards', () => {
    const { t, w, wait } = watchOne(100);
    w.stop();
    expect(t.armed.size).toBe(0);
    t.advanceTo(1000);
    expect(wait.expiredAt).toBeUndefined();
    // Still usable: a new wait arms a new timer.
    const next = new Wait(t).startIn(w, 100);
    t.advanceTo(1100);
    expect(next.expiredAt).toBe(1100);
  });

  it('an idle timer does not keep the process alive (unref), a watched one does (ref)', () => {
    const { t, w, wait, entry } = watchOne(1000);
    expect(entry.isRefed).toBe(true);
    w.forget(wait);
    expect(entry.isRefed).toBe(false);
    new Wait(t).startIn(w, 1000);
    expect(entry.isRefed).toBe(true);
  });

  it('property: every wait expires exactly at its last deadline unless it ended first', () => {
    const step = fc.record({
      gap: fc.integer({ min: 0, max: 400 }),
      wait: fc.integer({ min: 0, max: 5 }),
      action: fc.constantFrom('start', 'extend', 'end'),
      ms: fc.integer({ min: 1, max: 1000 }),
    });
    fc.assert(
      fc.property(fc.array(step, { maxLength: 60 }), (steps) => {
        const t = new ManualTimers();
        const w = new DeadlineWatchdog(t);
        const waits = Array.from({ length: 6 }, () => new Wait(t));
        const expected = new Map<Wait, number>(); // the due time of each watched wait
        const expiredEarly: Wait[] = [];
        for (const s of steps) {
          t.advanceTo(t.nowMs + s.gap);
          for (const [x, at] of expected) {
            if (x.expiredAt !== undefined) {
              if (x.expiredAt !== at) expiredEarly.push(x);
              expected.delete(x);
            }
          }
          const x = waits[s.wait]!;
          if (s.action === 'end') {
            w.forget(x);
            expected.delete(x);
          } else if (s.action === 'start' || expected.has(x)) {
            x.expiredAt = undefined;
            x.startIn(w, s.ms);
            expected.set(x, x.deadlineMs);
          }
        }
        t.advanceTo(t.nowMs + 2000);
        for (const [x, at] of expected) expect(x.expiredAt).toBe(at);
        expect(expiredEarly).toEqual([]);
        expect(w.watching).toBe(0);
      }),
    );
  });
});
