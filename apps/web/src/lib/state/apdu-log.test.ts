import { describe, expect, it } from 'vitest';
import { ApduLog } from './apdu-log.svelte.ts';
import { exportLog, isPinCommand, toLogRow } from './apdu-log.ts';
import type { ApduRecord } from './ports.ts';

const hex = (s: string): Uint8Array =>
  Uint8Array.from(s.match(/../g) ?? [], (b) => parseInt(b, 16));

function record(over: Partial<ApduRecord> & { command: Uint8Array | null }): ApduRecord {
  return {
    id: 1,
    atMs: 0,
    name: 'SELECT',
    lc: 0,
    le: null,
    response: hex('9000'),
    sw: 0x9000,
    swText: 'Success',
    latencyMs: 3.25,
    isRedacted: false,
    ...over,
  };
}

describe('PIN data', () => {
  it('recognises VERIFY, CHANGE REFERENCE DATA and RESET RETRY COUNTER', () => {
    expect(isPinCommand(hex('00200080083132333435360000'))).toBe(true);
    expect(isPinCommand(hex('0024008010'))).toBe(true);
    expect(isPinCommand(hex('002c008010'))).toBe(true);
    expect(isPinCommand(hex('00a4040009a00000030800001000'))).toBe(false);
    expect(isPinCommand(hex('00'))).toBe(false);
    expect(isPinCommand(null)).toBe(false);
  });

  it('drops PIN bytes even when the bridge did not redact them', () => {
    const row = toLogRow(
      record({ name: 'VERIFY', command: hex('00200080083132333435363738'), lc: 8 }),
      1000,
    );
    expect(row.isRedacted).toBe(true);
    expect(row.commandHex).toBeNull();
    expect(row.responseHex).toBeNull();
    const json = exportLog([row], { exportedAtEpochMs: 0, reader: 'r', atr: null, dropped: 0 });
    expect(json).not.toContain('3132333435');
    expect(JSON.parse(json).entries[0]).toMatchObject({
      command: 'VERIFY',
      lc: 8,
      redacted: true,
      commandHex: null,
    });
  });

  it("marks answers the bridge gave in the card's place", () => {
    const row = toLogRow(
      record({
        command: hex('00b0000000'),
        answeredBy: 'bridge-error',
        response: hex('6f00'),
        sw: 0x6f00,
      }),
      1,
    );
    expect(row.answeredBy).toBe('bridge-error');
    expect(toLogRow(record({ command: hex('00b0000000') }), 1).answeredBy).toBe('card');
  });

  it('keeps bytes of other commands for the export', () => {
    const row = toLogRow(
      record({ command: hex('00a4040002aabb'), lc: 2, response: hex('6f009000') }),
      1000,
    );
    expect(row).toMatchObject({
      isRedacted: false,
      commandHex: '00a4040002aabb',
      responseHex: '6f009000',
      answerBytes: 2,
    });
  });
});

describe('exportLog', () => {
  it('writes a versioned JSON document with readable fields', () => {
    const row = toLogRow(
      record({
        command: hex('00ca7f6800'),
        name: 'GET DATA',
        le: 256,
        sw: 0x6a82,
        swText: 'File not found',
        response: hex('6a82'),
      }),
      Date.UTC(2026, 0, 2, 3, 4, 5, 678),
    );
    const doc = JSON.parse(
      exportLog([row], {
        exportedAtEpochMs: Date.UTC(2026, 0, 2),
        reader: 'Virtual reader',
        atr: '3B 00',
        dropped: 3,
      }),
    );
    expect(doc).toMatchObject({
      format: 'cardlend-apdu-log/1',
      reader: 'Virtual reader',
      atr: '3B 00',
      droppedOlderEntries: 3,
    });
    expect(doc.entries[0]).toEqual({
      id: 1,
      at: '2026-01-02T03:04:05.678Z',
      command: 'GET DATA',
      lc: 0,
      le: 256,
      answerBytes: 0,
      sw: '6a82',
      meaning: 'File not found',
      latencyMs: 3.3,
      redacted: false,
      answeredBy: 'card',
      commandHex: '00ca7f6800',
      responseHex: '6a82',
    });
  });
});

describe('ApduLog', () => {
  it('keeps the newest entries up to the limit and counts the dropped ones', () => {
    const log = new ApduLog({ maxEntries: 3 });
    for (let id = 1; id <= 5; id++) log.add(record({ id, command: hex('00b0000000') }), id);
    expect(log.rows.map((r) => r.id)).toEqual([3, 4, 5]);
    expect(log.dropped).toBe(2);
    log.clear();
    expect(log.rows).toEqual([]);
    expect(log.dropped).toBe(0);
  });

  it('refreshes the view once per scheduled flush, newest first, capped at maxShown', () => {
    const pending: (() => void)[] = [];
    const log = new ApduLog({ maxEntries: 6, maxShown: 3, schedule: (f) => pending.push(f) });
    for (let id = 1; id <= 4; id++) log.add(record({ id, command: hex('00b0000000') }), id);
    // Four adds, one flush: the table is not re-rendered per APDU.
    expect(pending).toHaveLength(1);
    expect(log.view).toEqual({ rows: [], total: 0, hidden: 0 });
    expect(log.rows.map((r) => r.id)).toEqual([1, 2, 3, 4]);
    pending.shift()?.();
    expect(log.view.rows.map((r) => r.id)).toEqual([4, 3, 2]);
    expect(log.view).toMatchObject({ total: 4, hidden: 1 });
    for (let id = 5; id <= 8; id++) log.add(record({ id, command: hex('00b0000000') }), id);
    expect(pending).toHaveLength(1);
    pending.shift()?.();
    // The export keeps maxEntries rows; the view the newest maxShown of them.
    expect(log.rows.map((r) => r.id)).toEqual([3, 4, 5, 6, 7, 8]);
    expect(log.dropped).toBe(2);
    expect(log.view.rows.map((r) => r.id)).toEqual([8, 7, 6]);
    expect(log.view).toMatchObject({ total: 6, hidden: 5 });
  });

  it('ignores a flush scheduled before clear()', () => {
    const pending: (() => void)[] = [];
    const log = new ApduLog({ schedule: (f) => pending.push(f) });
    log.add(record({ id: 1, command: hex('00b0000000') }), 1);
    log.clear();
    log.add(record({ id: 2, command: hex('00b0000000') }), 2);
    expect(pending).toHaveLength(2);
    pending.shift()?.();
    expect(log.view.rows).toEqual([]);
    pending.shift()?.();
    expect(log.view.rows.map((r) => r.id)).toEqual([2]);
    expect(log.view).toMatchObject({ total: 1, hidden: 0 });
  });
});
