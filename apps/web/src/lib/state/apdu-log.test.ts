import { describe, expect, it } from 'vitest';
import { ApduLog } from './apdu-log.svelte.ts';
import { exportLog, isPinCommand, pinTriesLeft, pinWarningOf, toLogRow } from './apdu-log.ts';
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
      lc: null,
      pinUse: 'pin',
      redacted: true,
      commandHex: null,
    });
  });

  it('never keeps the length of PIN data, whatever the PIN length (no padding)', () => {
    for (const [ins, name] of [
      ['20', 'VERIFY'],
      ['24', 'CHANGE REFERENCE DATA'],
      ['2c', 'RESET RETRY COUNTER'],
    ] as const) {
      const rows = [4, 6, 8].map((n) =>
        toLogRow(record({ name, command: null, isRedacted: true, lc: n }), 1),
      );
      for (const row of rows) expect(row).toMatchObject({ lc: null, pinUse: 'pin' });
      const docs = rows.map((r) =>
        exportLog([r], { exportedAtEpochMs: 0, reader: null, atr: null, dropped: 0 }),
      );
      expect(new Set(docs).size).toBe(1);
      void ins;
    }
  });

  it('reads a VERIFY without data as a PIN-status query: nothing tried, no PIN hidden', () => {
    const header = hex('00200080');
    const query = (sw: number, swText: string) =>
      toLogRow(
        {
          ...record({ name: 'VERIFY', command: null, isRedacted: true, lc: 0, sw, swText }),
          header,
        } as never,
        1,
      );
    const notYet = query(0x63c3, 'Verification failed, 3 tries left');
    expect(notYet).toMatchObject({ pinUse: 'status-query', lc: 0 });
    expect(notYet.swText).toBe('PIN not verified yet, 3 tries left');
    expect(notYet.swText).not.toMatch(/failed/i);
    expect(query(0x63c1, 'x').swText).toBe('PIN not verified yet, 1 try left');
    expect(query(0x9000, 'Success').swText).toBe('PIN already verified');
    expect(query(0x6983, 'Authentication method blocked').swText).toBe('PIN blocked');
    expect(pinWarningOf(notYet)).toBeNull();
  });

  it('warns about a real wrong PIN with the tries left, and forgets it once a PIN is accepted', () => {
    const log = new ApduLog({ schedule: () => {} });
    const verify = (id: number, lc: number, sw: number) =>
      log.add(
        record({
          id,
          name: 'VERIFY',
          command: hex(`00200080${lc === 0 ? '' : '08' + '31'.repeat(8)}`),
          lc,
          sw,
        }),
        id,
      );
    verify(1, 0, 0x63c3);
    expect(log.pinWarning).toBeNull();
    verify(2, 8, 0x63c2);
    expect(log.pinWarning).toEqual({ triesLeft: 2, atEpochMs: 2 });
    verify(3, 0, 0x63c2);
    expect(log.pinWarning).toEqual({ triesLeft: 2, atEpochMs: 2 });
    verify(4, 8, 0x6983);
    expect(log.pinWarning).toEqual({ triesLeft: 0, atEpochMs: 4 });
    verify(5, 8, 0x9000);
    expect(log.pinWarning).toBeNull();
    verify(6, 8, 0x63c1);
    log.clear();
    expect(log.pinWarning).toBeNull();
  });

  it('reads tries left from 63Cx and 6983 only', () => {
    expect(pinTriesLeft(0x63c5)).toBe(5);
    expect(pinTriesLeft(0x6983)).toBe(0);
    expect(pinTriesLeft(0x6300)).toBeNull();
    expect(pinTriesLeft(0x9000)).toBeNull();
    expect(pinTriesLeft(null)).toBeNull();
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

/**
 * The forms in which `bytes` show in `text`: hex in lower or upper case, with or without spaces
 * between bytes, or their decimal values as a JSON list (an array or a Uint8Array's object).
 */
function formsOfBytesIn(text: string, bytes: Uint8Array): string[] {
  const pairs = Array.from(bytes, (b) => b.toString(16).padStart(2, '0'));
  const flat = text.replace(/\s+/g, '');
  const decimal = Array.from(bytes).join(',');
  // A Uint8Array in JSON is an object of index keys: {"0":0,"1":32,…}.
  const indexed = new RegExp(Array.from(bytes, (b) => `"\\d+":${b}`).join(','));
  const forms: [string, boolean][] = [
    ['hex', text.includes(pairs.join(''))],
    ['HEX', text.includes(pairs.join('').toUpperCase())],
    ['spaced hex', text.includes(pairs.join(' '))],
    ['spaced HEX', text.includes(pairs.join(' ').toUpperCase())],
    ['decimal list', flat.includes(decimal) || indexed.test(flat)],
  ];
  return forms.filter(([, isIn]) => isIn).map(([name]) => name);
}

describe('hex of a row', () => {
  it('is built when read, the same lower-case hex for every byte value', () => {
    const all = Uint8Array.from({ length: 256 }, (_, b) => b);
    const row = toLogRow(record({ command: all, response: all.subarray(250) }), 1);
    const expected = (b: Uint8Array): string =>
      Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
    expect(row.commandHex).toBe(expected(all));
    expect(row.responseHex).toBe('fafbfcfdfeff');
    expect(row.responseHex).toBe(expected(all.subarray(250)));
  });

  it('is null for an unanswered command and keeps nothing of a redacted one', () => {
    expect(toLogRow(record({ command: hex('00b0000000'), response: null }), 1)).toMatchObject({
      commandHex: '00b0000000',
      responseHex: null,
    });
    // An EMV plaintext PIN block (format 2, PIN 1234): its hex has letters, so case matters.
    const pinBlock = hex('241234ffffffffff');
    const pin = Uint8Array.of(...hex('0020008008'), ...pinBlock);
    const row = toLogRow(record({ name: 'VERIFY', command: pin, lc: 8 }), 1);
    const json = exportLog([row], { exportedAtEpochMs: 0, reader: 'r', atr: null, dropped: 0 });
    expect(formsOfBytesIn(json, pinBlock)).toEqual([]);
    pin.set(hex('00a4040002aabb'));
    expect(row.commandHex).toBeNull();
    expect(row.responseHex).toBeNull();
  });

  it('exports the bytes of a command without PIN data as lower-case hex only', () => {
    const data = hex('241234ffffffffff');
    const command = Uint8Array.of(...hex('00d6000008'), ...data);
    const row = toLogRow(record({ command }), 1);
    const json = exportLog([row], { exportedAtEpochMs: 0, reader: 'r', atr: null, dropped: 0 });
    expect(formsOfBytesIn(json, data)).toEqual(['hex']);
    // The byte-list forms, as a leak of the record's bytes would write them.
    expect(formsOfBytesIn(JSON.stringify({ kept: Array.from(data) }), data)).toEqual([
      'decimal list',
    ]);
    expect(formsOfBytesIn(JSON.stringify({ kept: command }), data)).toEqual(['decimal list']);
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
      pinUse: null,
      le: 256,
      answerBytes: 0,
      sw: '6a82',
      meaning: 'File not found',
      latencyMs: 3,
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
