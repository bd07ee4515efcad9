import { describe, expect, it } from 'vitest';
import { ApduLog } from './apdu-log.svelte.ts';
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
} {
  const pending: (() => void)[] = [];
  const log = new ApduLog({
    maxEntries: 40,
    maxShown: 20,
    busyRows: 5,
    busyShown: 8,
    schedule: (f) => pending.push(f),
  });
  let next = 1;
  return {
    log,
    add: (n) => {
      for (let i = 0; i < n; i++, next++) log.add(readBinary(next), next);
    },
    flush: () => pending.shift()?.(),
    queued: () => pending.length,
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

  it('stays trimmed while rows keep coming, and shows maxShown at the first refresh without new rows', () => {
    const { log, add, flush, queued } = busyLog();
    add(12);
    flush();
    // Trimmed: a refresh is queued so the whole view comes back once the guest pauses.
    expect(queued()).toBe(1);
    add(3); // fewer than busyRows, but still coming: still trimmed
    expect(queued()).toBe(1);
    flush();
    expect(log.view.rows.map((r) => r.id)).toEqual([15, 14, 13, 12, 11, 10, 9, 8]);
    expect(queued()).toBe(1);
    flush(); // nothing new since the last refresh
    expect(log.view.rows).toHaveLength(15);
    expect(log.view.rows[0]?.id).toBe(15);
    expect(log.view).toMatchObject({ total: 15, hidden: 0 });
    expect(queued()).toBe(0);
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
