import fc from 'fast-check';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { RelayClose } from '@cardlend/vscard';
import {
  HeartbeatManager,
  type HeartbeatExpiry,
  type HeartbeatHandle,
} from '../../src/limits/heartbeat.ts';
import { TokenBucket } from '../../src/limits/rate-limit.ts';
import { SessionCaps } from '../../src/limits/session-caps.ts';
import {
  REFUSALS,
  REFUSAL_KINDS,
  clampCloseReason,
  refusalClose,
  refusalForToken,
} from '../../src/limits/refusals.ts';

describe('HeartbeatManager', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  function peer(manager: HeartbeatManager, answersPongs: boolean) {
    const log = { pings: 0, expired: [] as HeartbeatExpiry[] };
    const handle: HeartbeatHandle = manager.add({
      ping: () => {
        log.pings++;
        if (answersPongs) queueMicrotask(() => handle.notePong());
      },
      expire: (kind) => log.expired.push(kind),
    });
    return { log, handle };
  }

  it('pings every interval, keeps answering peers, and ends silent ones after one missed pong', async () => {
    const m = new HeartbeatManager({ pingIntervalMs: 1000, idleTimeoutMs: 0, slots: 4 });
    const alive = peer(m, true);
    const dead = peer(m, false);
    await vi.advanceTimersByTimeAsync(1000);
    expect(alive.log.pings).toBe(1);
    expect(dead.log.pings).toBe(1);
    await vi.advanceTimersByTimeAsync(1000);
    expect(dead.log.expired).toEqual(['heartbeat-timeout']);
    expect(m.size).toBe(1);
    await vi.advanceTimersByTimeAsync(10_000);
    expect(alive.log.pings).toBe(12);
    expect(alive.log.expired).toEqual([]);
    expect(dead.log.expired).toEqual(['heartbeat-timeout']); // once only
    alive.handle.remove();
    alive.handle.remove();
    expect(m.size).toBe(0);
    expect(vi.getTimerCount()).toBe(0); // the wheel stops when nothing is watched
  });

  it('ends idle sessions after the idle timeout, and activity restarts the clock', async () => {
    const m = new HeartbeatManager({ pingIntervalMs: 1000, idleTimeoutMs: 3000, slots: 4 });
    const busy = peer(m, true);
    const idle = peer(m, true);
    for (let i = 0; i < 8; i++) {
      await vi.advanceTimersByTimeAsync(500);
      busy.handle.noteActivity();
    }
    expect(idle.log.expired).toEqual(['idle-timeout']);
    expect(busy.log.expired).toEqual([]);
    await vi.advanceTimersByTimeAsync(4000);
    expect(busy.log.expired).toEqual(['idle-timeout']);
    m.close();
  });

  it("reads a peer's traffic counter at each visit: moving keeps it, still lets it expire, never early", async () => {
    const m = new HeartbeatManager({ pingIntervalMs: 1000, idleTimeoutMs: 3000, slots: 4 });
    let messages = 0;
    const log: { at: number; kind: HeartbeatExpiry }[] = [];
    const h: HeartbeatHandle = m.add({
      ping: () => queueMicrotask(() => h.notePong()),
      expire: (kind) => log.push({ at: Date.now(), kind }),
      activityCount: () => messages,
    });
    const start = Date.now();
    // Traffic every 700 ms for 7 s: never idle for 3 s.
    for (let i = 0; i < 10; i++) {
      await vi.advanceTimersByTimeAsync(700);
      messages += 3;
    }
    expect(log).toEqual([]);
    const lastMessageAt = Date.now();
    await vi.advanceTimersByTimeAsync(6000);
    expect(log.map((e) => e.kind)).toEqual(['idle-timeout']);
    const at = log[0]?.at ?? 0;
    expect(at - lastMessageAt).toBeGreaterThanOrEqual(3000); // never before the idle timeout
    expect(at - lastMessageAt).toBeLessThanOrEqual(3000 + 2 * 1000); // credited ≤ 1 interval late, expired ≤ 1 more
    expect(at).toBeGreaterThan(start);
    expect(m.size).toBe(0);
  });

  it('reports a throwing traffic counter and keeps visiting the others', async () => {
    const onError = vi.fn();
    const m = new HeartbeatManager({ pingIntervalMs: 100, idleTimeoutMs: 0, slots: 1, onError });
    let isBroken = false;
    m.add({
      ping: () => {},
      expire: () => {},
      activityCount: () => {
        if (isBroken) throw new Error('gone');
        return 0;
      },
    });
    isBroken = true;
    const ok = peer(m, true);
    await vi.advanceTimersByTimeAsync(300);
    expect(onError).toHaveBeenCalled();
    expect(ok.log.pings).toBe(3);
    m.close();
  });

  it('expires within one interval of the deadline', async () => {
    const m = new HeartbeatManager({ pingIntervalMs: 1000, idleTimeoutMs: 2500, slots: 10 });
    const p = peer(m, true);
    await vi.advanceTimersByTimeAsync(2499);
    expect(p.log.expired).toEqual([]);
    await vi.advanceTimersByTimeAsync(1000);
    expect(p.log.expired).toEqual(['idle-timeout']);
  });

  it('scales to thousands of sessions with one timer and spreads pings over the interval', async () => {
    const m = new HeartbeatManager({ pingIntervalMs: 1600, idleTimeoutMs: 0, slots: 16 });
    let pings = 0;
    const handles: HeartbeatHandle[] = [];
    for (let i = 0; i < 9000; i++) {
      const h: HeartbeatHandle = m.add({ ping: () => (pings++, h.notePong()), expire: () => {} });
      handles.push(h);
    }
    expect(vi.getTimerCount()).toBe(1);
    await vi.advanceTimersByTimeAsync(100);
    expect(pings).toBe(Math.ceil(9000 / 16)); // one slot per tick (round-robin: slot 0 holds 563)
    await vi.advanceTimersByTimeAsync(1500);
    expect(pings).toBe(9000);
    for (const h of handles) h.remove();
    expect(m.size).toBe(0);
  });

  it('survives a peer whose callbacks throw and reports the error', async () => {
    const onError = vi.fn();
    const m = new HeartbeatManager({ pingIntervalMs: 100, idleTimeoutMs: 0, slots: 1, onError });
    m.add({
      ping: () => {
        throw new Error('socket gone');
      },
      expire: () => {},
    });
    const ok = peer(m, true);
    await vi.advanceTimersByTimeAsync(300);
    expect(onError).toHaveBeenCalled();
    expect(ok.log.pings).toBe(3);
    m.close();
  });

  it('rejects bad options', () => {
    expect(() => new HeartbeatManager({ pingIntervalMs: 0 })).toThrow(RangeError);
    expect(() => new HeartbeatManager({ idleTimeoutMs: -1 })).toThrow(RangeError);
    expect(() => new HeartbeatManager({ slots: 0 })).toThrow(RangeError);
  });
});

describe('SessionCaps', () => {
  it('caps sessions globally and per address, and frees slots once', () => {
    const caps = new SessionCaps({ maxSessions: 3, maxSessionsPerAddress: 2 });
    const a1 = caps.tryAcquire('192.0.2.1');
    const a2 = caps.tryAcquire('::ffff:192.0.2.1');
    expect(a1.ok && a2.ok).toBe(true);
    expect(caps.tryAcquire('192.0.2.1')).toEqual({ ok: false, reason: 'sessions-per-address' });
    const b = caps.tryAcquire('192.0.2.2');
    expect(b.ok).toBe(true);
    expect(caps.tryAcquire('192.0.2.3')).toEqual({ ok: false, reason: 'sessions-global' });
    if (!a1.ok) throw new Error('unreachable');
    a1.slot.release();
    a1.slot.release();
    expect(caps.total).toBe(2);
    expect(caps.countFor('192.0.2.1')).toBe(1);
    expect(caps.tryAcquire('192.0.2.1').ok).toBe(true);
  });

  it('each slot frees only its own session, once; slots share one release method', () => {
    const caps = new SessionCaps({ maxSessions: 10, maxSessionsPerAddress: 3 });
    const slots = [caps.tryAcquire('192.0.2.7'), caps.tryAcquire('192.0.2.7')];
    const other = caps.tryAcquire('192.0.2.8');
    const [s1, s2] = slots;
    if (!s1?.ok || !s2?.ok || !other.ok) throw new Error('acquire failed');
    // No closure per session: the method is the class's, not an own property of the slot.
    expect(s1.slot.release).toBe(s2.slot.release);
    expect(Object.keys(s1.slot)).toEqual([]);
    s1.slot.release();
    s1.slot.release();
    expect(caps.countFor('192.0.2.7')).toBe(1);
    expect(caps.countFor('192.0.2.8')).toBe(1);
    s2.slot.release();
    expect(caps.countFor('192.0.2.7')).toBe(0);
    expect(caps.total).toBe(1);
    // A released slot stays released when its key is taken again.
    const again = caps.tryAcquire('192.0.2.7');
    s2.slot.release();
    expect(again.ok && caps.countFor('192.0.2.7')).toBe(1);
    expect(caps.total).toBe(2);
  });

  it('counts IPv6 clients per /64', () => {
    const caps = new SessionCaps({ maxSessionsPerAddress: 1 });
    const first = caps.tryAcquire('2001:db8:1:2::1');
    expect(first).toMatchObject({ ok: true, key: '2001:db8:1:2::/64' });
    expect(caps.tryAcquire('2001:db8:1:2:ffff::9')).toEqual({
      ok: false,
      reason: 'sessions-per-address',
    });
    expect(caps.tryAcquire('2001:db8:1:3::1').ok).toBe(true);
  });

  it('keeps exact counts under any acquire/release sequence', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.boolean(), fc.integer({ min: 0, max: 3 })), { maxLength: 200 }),
        (ops) => {
          const caps = new SessionCaps({ maxSessions: 5, maxSessionsPerAddress: 2 });
          const held: { release(): void }[][] = [[], [], [], []];
          for (const [isAcquire, who] of ops) {
            const mine = held[who] as { release(): void }[];
            if (isAcquire) {
              const r = caps.tryAcquire(`10.0.0.${who}`);
              if (r.ok) mine.push(r.slot);
            } else mine.pop()?.release();
            const total = held.reduce((n, h) => n + h.length, 0);
            expect(caps.total).toBe(total);
            expect(total).toBeLessThanOrEqual(5);
            expect(mine.length).toBeLessThanOrEqual(2);
          }
        },
      ),
      { numRuns: 100 },
    );
  });
});

describe('TokenBucket', () => {
  it('allows a burst, then the sustained rate', () => {
    const b = new TokenBucket({ ratePerSecond: 10, burst: 5 });
    for (let i = 0; i < 5; i++) expect(b.take(0)).toBe(true);
    expect(b.take(0)).toBe(false);
    expect(b.take(99)).toBe(false);
    expect(b.take(100)).toBe(true);
    expect(b.take(10_000, 5)).toBe(true); // refill is capped at the burst
    expect(b.take(10_000)).toBe(false);
  });

  it('never exceeds burst + rate × time, whatever the timing', () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 0, max: 50 }), { minLength: 1, maxLength: 300 }),
        (gaps) => {
          const b = new TokenBucket({ ratePerSecond: 100, burst: 10 });
          let now = 0;
          let taken = 0;
          for (const gap of gaps) {
            now += gap;
            if (b.take(now)) taken++;
          }
          expect(taken).toBeLessThanOrEqual(10 + Math.floor((now * 100) / 1000));
        },
      ),
      { numRuns: 200 },
    );
  });

  it('gains nothing from a clock that goes backwards', () => {
    const b = new TokenBucket({ ratePerSecond: 1000, burst: 1 });
    expect(b.take(1000)).toBe(true);
    expect(b.take(0)).toBe(false);
    expect(b.take(1000)).toBe(false);
    expect(() => new TokenBucket({ ratePerSecond: 0, burst: 1 })).toThrow(RangeError);
  });
});

describe('refusals', () => {
  it('map every refusal to a contract close code and a short reason', () => {
    const codes = new Set<number>(Object.values(RelayClose));
    for (const kind of REFUSAL_KINDS) {
      const { code, reason } = refusalClose(kind);
      expect(codes.has(code)).toBe(true);
      expect(Buffer.byteLength(reason)).toBeLessThanOrEqual(123);
      expect(reason.length).toBeGreaterThan(10);
    }
    expect(refusalClose('origin-refused').code).toBe(RelayClose.ORIGIN_REFUSED);
    expect(refusalClose('token-used').code).toBe(RelayClose.TOKEN_USED);
    expect(refusalClose('auth-timeout').code).toBe(RelayClose.AUTH_TIMEOUT);
    expect(refusalClose('shutdown').code).toBe(1001);
    expect(REFUSALS['frame-too-big'].code).toBe(1009);
  });

  it('map token and ledger refusals', () => {
    expect(refusalForToken('expired')).toBe('token-expired');
    expect(refusalForToken('forged')).toBe('token-forged');
    expect(refusalForToken('in-use')).toBe('token-in-use');
    expect(refusalForToken('full')).toBe('token-ledger-full');
  });

  it('clamp reasons with details to 123 bytes without splitting characters', () => {
    const long = refusalClose('bad-frame', 'é'.repeat(200)).reason;
    expect(Buffer.byteLength(long)).toBeLessThanOrEqual(123);
    expect(long).not.toContain('\uFFFD');
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme', maxLength: 200 }), (s) => {
        const c = clampCloseReason(s);
        expect(Buffer.byteLength(c)).toBeLessThanOrEqual(123);
        expect(
          s.startsWith(c) ||
            Buffer.byteLength(s) > 123 ||
            c === new TextDecoder().decode(new TextEncoder().encode(s)),
        ).toBe(true);
      }),
      { numRuns: 200 },
    );
  });
});
