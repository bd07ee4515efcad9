/**
 * A failed power on of a card still in the slot is tried again by the machine (lending/
 * power-retry.ts): after 0.5, 1 and 2 s, only for failures that may heal, only while lending
 * runs and the same card is there. The machine alone, every input a call, time injected.
 */
import { RelayClose } from '@cardlend/vscard';
import { describe, expect, it } from 'vitest';
import { POWER_ON_RETRY_DELAYS_MS } from '../src/lending/power-retry.ts';
import type { LendingAction } from '../src/lending/types.ts';
import { MachineDriver, T0_ATR } from './helpers/machine-driver.ts';
import { FakeCcidError } from './helpers/scripted-reader.ts';

/** What pcsc's reader throws when another program holds the card. */
const sharingViolation = (): Error =>
  Object.assign(new FakeCcidError('CCID_DEVICE_BUSY'), {
    sourceCode: 'SCARD_E_SHARING_VIOLATION',
  });

/** Fails the oldest pending reader request, which must be a power on, with `error`. */
function failPowerOn(d: MachineDriver, error: unknown): LendingAction[] {
  const req = d.pending.shift();
  if (req?.kind !== 'power-on') throw new Error(`expected a power-on, got ${req?.kind ?? 'none'}`);
  return d.feed((m, now) => m.readerDone(req.id, { ok: false, error }, now));
}

/** Lent with the reader acknowledged; the card's first power on failed with `error`. */
function lentAfterFailedPowerOn(error: unknown = sharingViolation()): MachineDriver {
  const d = new MachineDriver();
  d.feed((m, now) => m.start(now, true));
  d.opened();
  d.hostInit();
  d.ack(); // ReaderAdd
  d.reader('slot-status', 'inactive');
  failPowerOn(d, error);
  d.ack(); // the CardRemove that clears a stale card (§6 rule 7)
  return d;
}

const powerOns = (d: MachineDriver): number =>
  d.of('reader').filter((a) => a.request.kind === 'power-on').length;

/** The times each error code first appeared in the state (a change to it, not a copy). */
function timesReported(d: MachineDriver, code: string): number {
  let count = 0;
  let previous: string | null = null;
  for (const a of d.of('state')) {
    const now = a.state.error?.code ?? null;
    if (now === code && previous !== code) count++;
    previous = now;
  }
  return count;
}

describe('a failed power on, retried', () => {
  it('succeeds on the 2nd attempt: the VM gets the ATR exactly once', () => {
    const d = lentAfterFailedPowerOn();
    const failedAtMs = d.nowMs;
    expect(d.pending).toEqual([]); // no reader call until the wait is over
    expect(d.timers.get('power-on')).toBe(failedAtMs + 500);
    expect(d.m.state).toMatchObject({ link: 'lent', card: null, error: null });
    expect(d.m.state.powerOnRetry).toEqual({
      attempt: 1,
      maxAttempts: 3,
      nextAtMs: failedAtMs + 500,
      error: {
        code: 'BRIDGE_READER_BUSY',
        message: expect.any(String),
        source: { kind: 'pcsc', code: 'SCARD_E_SHARING_VIOLATION' },
      },
    });

    d.fire('power-on');
    expect(d.pending.map((r) => r.kind)).toEqual(['power-on']);
    expect(d.m.state.powerOnRetry?.attempt).toBe(1); // still retrying while at the reader
    d.reader('power-on', { atr: T0_ATR, protocol: 0 });
    d.ack(); // ATR

    expect(d.m.state.powerOnRetry).toBeUndefined();
    expect(d.m.state).toMatchObject({ link: 'lent', error: null, card: { vmStatus: 'accepted' } });
    const atrs = d.sent().filter((msg) => msg.type === 'ATR');
    expect(atrs).toHaveLength(1);
    expect(atrs[0]).toMatchObject({ atr: T0_ATR });
    expect(d.sentTypes()).toEqual(['Init', 'ReaderAdd', 'CardRemove', 'ATR']);
    expect(d.timers.has('power-on')).toBe(false);
  });

  it('all attempts fail: waits 0.5, 1, 2 s, then reports the error once and calls the reader no more', () => {
    const d = lentAfterFailedPowerOn(new FakeCcidError('CCID_TIMEOUT'));
    const waits: number[] = [];
    for (let retry = 1; retry <= POWER_ON_RETRY_DELAYS_MS.length; retry++) {
      expect(d.m.state.error).toBeNull();
      expect(d.m.state.powerOnRetry).toMatchObject({
        attempt: retry,
        error: { code: 'BRIDGE_READER_TIMEOUT' },
      });
      waits.push(d.timers.get('power-on')! - d.nowMs);
      d.fire('power-on');
      failPowerOn(d, new FakeCcidError('CCID_TIMEOUT'));
    }
    expect(waits).toEqual([500, 1000, 2000]);
    expect(d.m.state.powerOnRetry).toBeUndefined();
    expect(d.m.state).toMatchObject({
      link: 'lent',
      card: null,
      error: { code: 'BRIDGE_READER_TIMEOUT', source: { kind: 'ccid', code: 'CCID_TIMEOUT' } },
    });
    expect(timesReported(d, 'BRIDGE_READER_TIMEOUT')).toBe(1);
    expect(powerOns(d)).toBe(4);
    expect(d.pending).toEqual([]);
    expect(d.timers.has('power-on')).toBe(false);
    // A late duplicate of the timer changes nothing.
    expect(d.feed((m, now) => m.timerFired('power-on', now))).toEqual([]);
    const logs = d.of('log').filter((a) => a.event.message === 'power on failed; retrying');
    expect(logs.map((a) => a.event.data?.['attempt'])).toEqual([1, 2, 3]);
  });

  it.each([
    {
      what: 'the card removed',
      input: (d: MachineDriver) =>
        d.feed((m, now) => m.readerEvent({ type: 'card-removed', slot: 0 }, now)),
    },
    { what: 'stop()', input: (d: MachineDriver) => d.feed((m, now) => m.stop(now)) },
    {
      what: 'the reader gone',
      input: (d: MachineDriver) => d.feed((m, now) => m.readerEvent({ type: 'reader-gone' }, now)),
    },
    {
      what: 'the relay ending the session',
      input: (d: MachineDriver) => d.closed(RelayClose.NORMAL),
    },
  ])('$what during the wait: no retry, the timer cancelled', ({ input }) => {
    const d = lentAfterFailedPowerOn();
    expect(d.timers.has('power-on')).toBe(true);
    const out = input(d);
    expect(out).toContainEqual({ type: 'cancel-timer', timer: 'power-on' });
    expect(d.timers.has('power-on')).toBe(false);
    expect(d.m.state.powerOnRetry).toBeUndefined();
    // Even if the shell's timer had already fired, nothing is powered on.
    d.feed((m, now) => m.timerFired('power-on', now + 10_000));
    expect(powerOns(d)).toBe(1);
    expect(d.pending.filter((r) => r.kind === 'power-on')).toEqual([]);
  });

  it('stop() after the last wait: the attempt at the reader failing arms nothing', () => {
    const d = lentAfterFailedPowerOn();
    d.fire('power-on');
    d.feed((m, now) => m.stop(now));
    expect(d.m.state.powerOnRetry).toBeUndefined();
    failPowerOn(d, sharingViolation());
    expect(d.timers.has('power-on')).toBe(false);
    expect(d.m.state.powerOnRetry).toBeUndefined();
  });

  it('a card removed while the retry is at the reader: its answer is dropped; a new card starts afresh', () => {
    const d = lentAfterFailedPowerOn(new FakeCcidError('CCID_CARD_MUTE'));
    d.fire('power-on'); // the retry is now at the reader
    d.feed((m, now) => m.readerEvent({ type: 'card-removed', slot: 0 }, now));
    expect(d.m.state.powerOnRetry).toBeUndefined();
    d.reader('power-on', { atr: T0_ATR, protocol: 0 }); // the old card's late answer
    expect(d.m.state.card).toBeNull();
    expect(d.sentTypes()).not.toContain('ATR');
    d.feed((m, now) => m.readerEvent({ type: 'card-inserted', slot: 0 }, now));
    failPowerOn(d, new FakeCcidError('CCID_CARD_MUTE'));
    expect(d.m.state.powerOnRetry?.attempt).toBe(1); // the new card has all its retries
  });

  it('a card inserted during the wait (no removal seen): powered on at once, the old retry cancelled', () => {
    const d = lentAfterFailedPowerOn();
    d.fire('power-on');
    failPowerOn(d, sharingViolation()); // the 1st retry failed too: attempt 2 waits
    expect(d.m.state.powerOnRetry?.attempt).toBe(2);
    const out = d.feed((m, now) => m.readerEvent({ type: 'card-inserted', slot: 0 }, now));
    expect(out).toContainEqual({ type: 'cancel-timer', timer: 'power-on' });
    expect(d.timers.has('power-on')).toBe(false);
    expect(d.m.state.powerOnRetry).toBeUndefined();
    expect(d.pending.map((r) => r.kind)).toEqual(['power-on']);
    // The old card's retry, had its timer fired anyway, powers nothing on.
    d.feed((m, now) => m.timerFired('power-on', now));
    expect(d.pending.map((r) => r.kind)).toEqual(['power-on']);
    failPowerOn(d, sharingViolation());
    expect(d.m.state.powerOnRetry?.attempt).toBe(1); // the new card has all its retries
    expect(powerOns(d)).toBe(3);
  });

  it('keeps waiting across a dropped relay connection: the card is still there', () => {
    const d = lentAfterFailedPowerOn();
    d.closed(1006);
    expect(d.m.state.link).toBe('reconnecting');
    expect(d.m.state.powerOnRetry?.attempt).toBe(1);
    d.fire('power-on');
    expect(d.pending.map((r) => r.kind)).toEqual(['power-on']);
  });

  it.each([
    { code: 'CCID_DEVICE_BUSY', retried: true },
    { code: 'CCID_BUSY', retried: true },
    { code: 'CCID_TIMEOUT', retried: true },
    { code: 'CCID_CARD_MUTE', retried: true },
    { code: 'CCID_TRANSFER_FAILED', retried: true },
    { code: 'CCID_HARDWARE_ERROR', retried: true },
    { code: 'CCID_NOT_POWERED', retried: true },
    { code: 'CCID_CARD_ABSENT', retried: false },
    { code: 'CCID_BAD_ATR', retried: false },
    { code: 'CCID_PROTOCOL', retried: false },
    { code: 'CCID_UNSUPPORTED', retried: false },
    { code: 'CCID_ABORTED', retried: false },
    { code: 'CCID_READER_GONE', retried: false },
    { code: 'CCID_CLOSED', retried: false },
    { code: 'NOT_A_READER_CODE', retried: false },
  ])('$code: retried $retried', ({ code, retried }) => {
    const d = lentAfterFailedPowerOn(new FakeCcidError(code));
    expect(d.timers.has('power-on')).toBe(retried);
    expect(d.m.state.powerOnRetry !== undefined).toBe(retried);
    expect(d.pending.filter((r) => r.kind === 'power-on')).toEqual([]);
  });

  it('a power on answering without { atr, protocol } is not retried', () => {
    const d = new MachineDriver();
    d.lend('absent');
    d.feed((m, now) => m.readerEvent({ type: 'card-inserted', slot: 0 }, now));
    d.reader('power-on', { atr: 'not bytes' });
    expect(d.m.state.error?.code).toBe('BRIDGE_UNKNOWN');
    expect(d.timers.has('power-on')).toBe(false);
  });

  it('an ATR the VM refuses is not powered on again', () => {
    const d = new MachineDriver({ t0Compat: 'never' });
    d.lend('absent');
    d.feed((m, now) => m.readerEvent({ type: 'card-inserted', slot: 0 }, now));
    d.reader('power-on', {
      atr: Uint8Array.from([0x3b, 0x84, 0x01, 0x56, 0x53, 0x43, 0x44, 0x87]),
      protocol: 1,
    });
    d.ack(1); // QEMU refuses the ATR
    expect(d.m.state.error?.code).toBe('BRIDGE_ATR_REFUSED');
    expect(d.timers.has('power-on')).toBe(false);
    expect(powerOns(d)).toBe(1);
  });
});
