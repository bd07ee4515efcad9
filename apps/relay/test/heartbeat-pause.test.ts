/**
 * The heartbeat wheel over a session's whole life (limits/heartbeat.ts): an expiry or `pause()`
 * only pauses a session's entry (a parked session: neither pinged nor expired), `restart()`
 * watches it again as a fresh one, and only `remove()` forgets it. Time is Vitest's fake clock.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import {
  HeartbeatManager,
  type HeartbeatExpiry,
  type HeartbeatHandle,
} from '../src/limits/heartbeat.ts';

const INTERVAL_MS = 1000;

/** A watched session stand-in: counts pings, logs expiries, answers pings while `answers`. */
function peer(manager: HeartbeatManager, answers: boolean) {
  const log = { pings: 0, expired: [] as HeartbeatExpiry[], answers };
  const handle: HeartbeatHandle = manager.add({
    ping: () => {
      log.pings++;
      if (log.answers) queueMicrotask(() => handle.notePong());
    },
    expire: (kind) => log.expired.push(kind),
  });
  return { log, handle };
}

/** Lets `n` ping intervals pass (every session visited `n` times). */
const intervals = (n: number) => vi.advanceTimersByTimeAsync(n * INTERVAL_MS);

describe('HeartbeatManager over a session that pauses and restarts', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('an expiry pauses the entry; a restart watches it again: pinged, and a missed pong expires it again', async () => {
    const m = new HeartbeatManager({ pingIntervalMs: INTERVAL_MS, idleTimeoutMs: 0, slots: 4 });
    const p = peer(m, false);
    await intervals(2);
    expect(p.log.expired).toEqual(['heartbeat-timeout']);
    expect(m.size).toBe(0);
    expect(vi.getTimerCount()).toBe(0); // nothing watched: the wheel stops
    await intervals(5); // paused (a parked session): neither pinged nor expired
    expect(p.log).toMatchObject({ pings: 1, expired: ['heartbeat-timeout'] });

    p.handle.restart(); // resumed
    expect(m.size).toBe(1);
    await intervals(1);
    expect(p.log.pings).toBe(2);
    await intervals(1);
    expect(p.log.expired).toEqual(['heartbeat-timeout', 'heartbeat-timeout']);

    p.log.answers = true; // resumed again, by a page that answers
    p.handle.restart();
    await intervals(10);
    expect(p.log.pings).toBe(12);
    expect(p.log.expired).toHaveLength(2);
    m.close();
  });

  it('the idle clock restarts with the entry, and still ends a restarted session', async () => {
    const m = new HeartbeatManager({ pingIntervalMs: INTERVAL_MS, idleTimeoutMs: 3000, slots: 4 });
    const p = peer(m, true);
    await intervals(4);
    expect(p.log.expired).toEqual(['idle-timeout']);
    await intervals(10); // a long pause does not count as idle time after the restart
    p.handle.restart();
    await vi.advanceTimersByTimeAsync(2999);
    expect(p.log.expired).toEqual(['idle-timeout']);
    await vi.advanceTimersByTimeAsync(1001); // expired ≤ one interval after the idle timeout
    expect(p.log.expired).toEqual(['idle-timeout', 'idle-timeout']);
    m.close();
  });

  it('a restart right after a ping owes no pong for it: the next visit pings again', async () => {
    const m = new HeartbeatManager({ pingIntervalMs: INTERVAL_MS, idleTimeoutMs: 0, slots: 4 });
    const p = peer(m, false);
    await intervals(1);
    expect(p.log.pings).toBe(1);
    p.log.answers = true;
    p.handle.restart(); // a new connection took over before the old one answered
    await intervals(3);
    expect(p.log).toMatchObject({ pings: 4, expired: [] });
    m.close();
  });

  it('pause() stops pings and expiries until restart(); remove() is for good', async () => {
    const m = new HeartbeatManager({ pingIntervalMs: INTERVAL_MS, idleTimeoutMs: 2000, slots: 4 });
    const p = peer(m, false);
    const other = peer(m, true);
    p.handle.pause();
    p.handle.pause();
    expect(m.size).toBe(1);
    await intervals(6);
    expect(p.log).toMatchObject({ pings: 0, expired: [] });
    expect(other.log.expired).toEqual(['idle-timeout']);
    p.handle.remove();
    p.handle.restart(); // ended: nothing brings it back
    expect(m.size).toBe(0);
    await intervals(3);
    expect(p.log).toMatchObject({ pings: 0, expired: [] });
    expect(vi.getTimerCount()).toBe(0);
  });

  it('close() forgets the watched sessions for good', async () => {
    const m = new HeartbeatManager({ pingIntervalMs: INTERVAL_MS, idleTimeoutMs: 0, slots: 4 });
    const p = peer(m, true);
    m.close();
    p.handle.restart();
    expect(m.size).toBe(0);
    await intervals(2);
    expect(p.log.pings).toBe(0);
  });
});
