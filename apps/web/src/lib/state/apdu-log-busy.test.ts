import { describe, expect, it } from 'vitest';
import { ApduLog, BUSY_REFRESH_MS, VIEW_REFRESH_MS } from './apdu-log.svelte.ts';
import type { ApduRecord } from './ports.ts';

/** A READ BINARY answered 9000, as the bridge logs it. */
const readBinary = (id: number): ApduRecord => ({
  id,
  atMs: id,
  name: 'READ BINARY',
  command: Uint8Array.of(0x00, 0xb0, 0x00, 0x00, 0x00),
  lc: 0,
  le: 256,
  response: Uint8Array.of(0x90, 0x00),
  sw: 0x9000,
  swText: 'Success',
  latencyMs: 1,
  isRedacted: false,
});

/** A log with a hand-run refresh queue and ids handed out in order. */
function busyLog(): {
  log: ApduLog;
  add: (n: number) => void;
  flush: () => void;
  queued: () => number;
  /** The delay the next queued refresh was scheduled with. */
  nextDelay: () => number | undefined;
} {
  const pending: { flush: () => void; delayMs: number }[] = [];
  const log = new ApduLog({
    maxEntries: 40,
    maxShown: 20,
    busyRows: 5,
    busyShown: 8,
    schedule: (flush, delayMs) => pending.push({ flush, delayMs }),
  });
  let next = 1;
  return {
    log,
    add: (n) => {
      for (let i = 0; i < n; i++, next++) log.add(readBinary(next), next);
    },
    flush: () => pending.shift()?.flush(),
    queued: () => pending.length,
    nextDelay: () => pending[0]?.delayMs,
  };
}

describe('ApduLog while the guest streams commands', () => {
  it('shows only the newest busyShown rows when a refresh finds more than busyRows new ones', () => {
    const { log, add, flush } = busyLog();
    add(12);
    flush();
    expect(log.view.rows.map((r) => r.id)).toEqual([12, 11, 10, 9, 8, 7, 6, 5]);
    expect(log.view).toMatchObject({ total: 12, hidden: 4 });
    // The export is not trimmed.
    expect(log.rows).toHaveLength(12);
  });

  it('refreshes a trimmed view every BUSY_REFRESH_MS and shows maxShown again once few rows come', () => {
    const { log, add, flush, queued, nextDelay } = busyLog();
    add(1);
    expect(nextDelay()).toBe(VIEW_REFRESH_MS);
    add(11);
    flush();
    // Trimmed: the next refresh is queued at once (so the whole view comes back when the guest
    // pauses), and a quarter as often.
    expect(queued()).toBe(1);
    expect(nextDelay()).toBe(BUSY_REFRESH_MS);
    add(6); // still more than busyRows: still trimmed
    expect(queued()).toBe(1);
    flush();
    expect(log.view.rows.map((r) => r.id)).toEqual([18, 17, 16, 15, 14, 13, 12, 11]);
    expect(nextDelay()).toBe(BUSY_REFRESH_MS);
    add(2); // at most busyRows: the whole view
    flush();
    expect(log.view.rows).toHaveLength(20);
    expect(log.view.rows[0]?.id).toBe(20);
    expect(log.view).toMatchObject({ total: 20, hidden: 0 });
    expect(queued()).toBe(0);
    add(1);
    expect(nextDelay()).toBe(VIEW_REFRESH_MS);
  });

  it('never trims a view refreshed with at most busyRows new rows', () => {
    const { log, add, flush, queued } = busyLog();
    for (let round = 0; round < 4; round++) {
      add(5);
      flush();
    }
    expect(log.view.rows).toHaveLength(20);
    expect(log.view.rows[0]?.id).toBe(20);
    expect(queued()).toBe(0);
  });

  it('starts untrimmed after clear()', () => {
    const { log, add, flush, queued } = busyLog();
    add(12);
    flush();
    log.clear();
    flush(); // the refresh queued before clear() does nothing
    expect(log.view.rows).toEqual([]);
    add(3);
    flush();
    expect(log.view.rows.map((r) => r.id)).toEqual([15, 14, 13]);
    expect(queued()).toBe(0);
  });
});
