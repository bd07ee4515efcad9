import { describe, expect, it } from 'vitest';
import { createLogEntry, toExportableLog } from '../src/apdu-log.ts';

const h = (hex: string): Uint8Array =>
  Uint8Array.from(hex.replace(/\s+/g, '').match(/../g) ?? [], (x) => parseInt(x, 16));
const PIN = '313233343536FFFF';

type EntryInput = Parameters<typeof createLogEntry>[0];

/**
 * A log entry of `command` answered by the card with `response` (hex or bytes), as entry 1 at
 * time 0; `more` sets the other fields.
 */
function entry(
  command: string | Uint8Array,
  response: string | Uint8Array | null,
  more: Partial<EntryInput> = {},
) {
  return createLogEntry({
    id: 1,
    atMs: 0,
    command: typeof command === 'string' ? h(command) : command,
    response: typeof response === 'string' ? h(response) : response,
    latencyMs: 0,
    answeredBy: 'card',
    ...more,
  });
}

describe('APDU log', () => {
  it('never keeps PIN data of VERIFY, CHANGE REFERENCE DATA, RESET RETRY COUNTER', () => {
    const entries = [
      entry(`00 20 00 80 08 ${PIN}`, '9000'),
      entry(`00 24 00 80 10 ${PIN} ${PIN}`, '63C2', { id: 2, atMs: 2 }),
      entry(`00 2C 00 80 10 ${PIN} ${PIN}`, '9000', { id: 3, atMs: 3 }),
    ];
    for (const e of entries) {
      expect(e.isRedacted).toBe(true);
      expect(e.command).toBeNull();
      expect(e.header.length).toBe(4);
    }
    expect(entries[1]?.swText).toBe('Verification failed, 2 tries left');
    // Nothing gives the PIN length away: not lc, not the command length (issue 14 §5).
    for (const e of entries) {
      expect(e).toMatchObject({ lc: 1, commandLength: 4, hasData: true });
    }
    for (const x of toExportableLog(entries)) {
      expect(x).toMatchObject({ lc: 1, commandLength: 4, hasData: true });
    }
    const json = JSON.stringify(toExportableLog(entries));
    expect(json).not.toContain('31323334');
    expect(json).not.toContain('313233343536');
    expect(json).toContain('"name":"VERIFY"');
  });

  it('keeps ordinary commands and describes the answer', () => {
    const e = entry('00 A4 04 00 02 3F 00 00', '6A82', {
      id: 7,
      atMs: 1_700_000_000_000,
      latencyMs: 12,
    });
    expect(e).toMatchObject({
      name: 'SELECT',
      lc: 2,
      le: 256,
      sw: 0x6a82,
      swText: 'File or application not found',
      isRedacted: false,
      responseDataLength: 0,
    });
    const [x] = toExportableLog([e]);
    expect(x).toMatchObject({
      command: '00A40400023F0000',
      response: '6A82',
      sw: '6A82',
      at: '2023-11-14T22:13:20.000Z',
      errorCode: null,
    });
  });

  it('re-redacts a hand-made entry that carries PIN data', () => {
    const e = entry('00 A4 04 00 01 00', '9000');
    const forged = { ...e, header: h('00 20 00 80'), command: h(`00 20 00 80 08 ${PIN}`) };
    const [x] = toExportableLog([forged]);
    expect(x?.command).toBeNull();
    expect(x?.isRedacted).toBe(true);
  });

  it('records when no answer could be sent', () => {
    const e = entry('00 B0 00 00 00', null, {
      latencyMs: 5,
      answeredBy: 'bridge-error',
      errorCode: 'BRIDGE_CARD_ABSENT',
    });
    expect(e).toMatchObject({
      sw: null,
      swText: 'No answer sent (connection gone)',
      errorCode: 'BRIDGE_CARD_ABSENT',
    });
  });

  it('copies bytes so later changes to the buffers do not alter the log', () => {
    const cmd = h('00 B0 00 00 02');
    const rsp = h('AABB9000');
    const e = entry(cmd, rsp);
    cmd.fill(0);
    rsp.fill(0);
    expect([...(e.command ?? [])]).toEqual([0, 0xb0, 0, 0, 2]);
    expect([...(e.response ?? [])]).toEqual([0xaa, 0xbb, 0x90, 0]);
  });

  it.each([
    ['00 20 00 80', '63C3', 'PIN not verified, 3 tries left'],
    ['00 20 00 80', '63C1', 'PIN not verified, 1 try left'],
    ['00 20 00 80', '9000', 'PIN already verified (or not needed)'],
    [`00 20 00 80 08 ${PIN}`, '63C2', 'Verification failed, 2 tries left'],
    ['00 20 00 80', '6983', 'Authentication method blocked (PIN blocked)'],
  ])('VERIFY %s answered %s reads %j', (command, sw, text) => {
    const e = entry(command, sw);
    expect(e.swText).toBe(text);
    expect(e.hasData).toBe(command.length > 11);
    expect(e.lc).toBe(command.length > 11 ? 1 : 0);
  });

  it('an export of an entry built elsewhere hides the length of a redacted command too', () => {
    const e = entry(`00 20 00 80 08 ${PIN}`, '9000');
    const [x] = toExportableLog([{ ...e, lc: 8, commandLength: 13 }]);
    expect(x).toMatchObject({ lc: 1, commandLength: 4, command: null });
  });

  it('keeps the header as the command does: its own bytes, whatever the caller does afterwards', () => {
    for (const hex of ['00 A4 04 00 02 3F 00 00', '00 B0', `00 20 00 80 08 ${PIN}`]) {
      const command = h(hex);
      const e = entry(command, '9000');
      const header = Array.from(h(hex).subarray(0, 4));
      // The bridge wipes a redacted command's PIN bytes; a caller may reuse its array.
      command.fill(0xee);
      expect(Array.from(e.header)).toEqual(header);
      if (e.command !== null) {
        expect(Array.from(e.command)).toEqual(Array.from(h(hex)));
        expect(Array.from(e.header)).toEqual(Array.from(e.command.subarray(0, 4)));
      }
      const [x] = toExportableLog([e]);
      expect(x?.header).toBe(hex.replace(/\s+/g, '').slice(0, Math.min(8, header.length * 2)));
    }
  });
});
