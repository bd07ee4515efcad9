import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { fromHex, toHex } from './bytes.ts';
import type { CcidCommand } from './messages.ts';
import {
  CcidMessageAssembler,
  decodeCommand,
  decodeInterrupt,
  decodeResponse,
  encodeCommand,
  encodeNotifySlotChange,
  encodeResponse,
} from './messages.ts';
import { isCcidError } from './errors.ts';

describe('PC_to_RDR codecs (CCID rev 1.1 §6.1)', () => {
  const cmds: [CcidCommand, string][] = [
    [{ type: 'IccPowerOn', slot: 0, seq: 1, powerSelect: 0 }, '62 00 00 00 00 00 01 00 00 00'],
    [{ type: 'IccPowerOff', slot: 1, seq: 2 }, '63 00 00 00 00 01 02 00 00 00'],
    [{ type: 'GetSlotStatus', slot: 0, seq: 0xff }, '65 00 00 00 00 00 FF 00 00 00'],
    [
      { type: 'XfrBlock', slot: 0, seq: 3, bwi: 5, levelParameter: 0x0010, data: fromHex('00 A4') },
      '6F 02 00 00 00 00 03 05 10 00 00 A4',
    ],
    [
      { type: 'SetParameters', slot: 0, seq: 4, protocolNum: 0, data: fromHex('11 00 00 0A 00') },
      '61 05 00 00 00 00 04 00 00 00 11 00 00 0A 00',
    ],
    [{ type: 'GetParameters', slot: 0, seq: 5 }, '6C 00 00 00 00 00 05 00 00 00'],
    [{ type: 'ResetParameters', slot: 0, seq: 5 }, '6D 00 00 00 00 00 05 00 00 00'],
    [{ type: 'Escape', slot: 0, seq: 6, data: fromHex('6A') }, '6B 01 00 00 00 00 06 00 00 00 6A'],
    [{ type: 'IccClock', slot: 0, seq: 7, clockCommand: 1 }, '6E 00 00 00 00 00 07 01 00 00'],
    [
      { type: 'T0APDU', slot: 0, seq: 8, changes: 3, classGetResponse: 0xff, classEnvelope: 0x00 },
      '6A 00 00 00 00 00 08 03 FF 00',
    ],
    [
      { type: 'Secure', slot: 0, seq: 9, bwi: 0, levelParameter: 0, data: fromHex('00') },
      '69 01 00 00 00 00 09 00 00 00 00',
    ],
    [{ type: 'Mechanical', slot: 0, seq: 10, function: 2 }, '71 00 00 00 00 00 0A 02 00 00'],
    [{ type: 'Abort', slot: 0, seq: 11 }, '72 00 00 00 00 00 0B 00 00 00'],
    [
      {
        type: 'SetDataRateAndClockFrequency',
        slot: 0,
        seq: 12,
        clockFrequencyKhz: 4000,
        dataRateBps: 10752,
      },
      '73 08 00 00 00 00 0C 00 00 00 A0 0F 00 00 00 2A 00 00',
    ],
  ];
  for (const [cmd, hex] of cmds) {
    it(cmd.type, () => {
      expect(toHex(encodeCommand(cmd))).toBe(hex);
      expect(decodeCommand(fromHex(hex))).toEqual(cmd);
    });
  }
});

describe('RDR_to_PC codecs (CCID rev 1.1 §6.2)', () => {
  it('DataBlock with ATR', () => {
    const r = decodeResponse(fromHex('80 09 00 00 00 00 01 00 00 00 3B 65 00 00 20 63 CB BC 00'));
    expect(r).toMatchObject({
      type: 'DataBlock',
      slot: 0,
      seq: 1,
      iccStatus: 0,
      commandStatus: 0,
      bError: 0,
    });
    expect(toHex(r.data)).toBe('3B 65 00 00 20 63 CB BC 00');
  });
  it('time extension', () => {
    expect(decodeResponse(fromHex('80 00 00 00 00 00 07 80 05 00'))).toMatchObject({
      commandStatus: 2,
      bError: 5,
    });
  });
  it('failed, card absent', () => {
    expect(decodeResponse(fromHex('81 00 00 00 00 00 07 42 FE 00'))).toMatchObject({
      type: 'SlotStatus',
      commandStatus: 1,
      iccStatus: 2,
      bError: 0xfe,
    });
  });
  it('round trip', () => {
    const bytes = encodeResponse({
      type: 'Parameters',
      slot: 1,
      seq: 9,
      bSpecific: 1,
      data: fromHex('11 10 00 4D 00 20 00'),
    });
    expect(toHex(bytes)).toBe('82 07 00 00 00 01 09 00 00 01 11 10 00 4D 00 20 00');
  });
  it.each([
    ['short', '80 00 00'],
    ['unknown type', '90 00 00 00 00 00 00 00 00 00'],
    ['length mismatch', '80 05 00 00 00 00 00 00 00 00 01'],
  ])('%s ⇒ CCID_BAD_MESSAGE', (_n, hex) => {
    expect(() => decodeResponse(fromHex(hex))).toThrow(
      expect.objectContaining({ code: 'CCID_BAD_MESSAGE' }),
    );
  });
  it('property: arbitrary bytes decode or throw CcidError', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 40 }), (b) => {
        try {
          decodeResponse(b);
        } catch (e) {
          expect(isCcidError(e)).toBe(true);
        }
      }),
    );
  });
});

describe('interrupt messages (CCID rev 1.1 §6.3)', () => {
  it('NotifySlotChange, single slot', () => {
    expect(decodeInterrupt(fromHex('50 03'), 1)).toEqual({
      type: 'NotifySlotChange',
      slots: [{ slot: 0, isPresent: true, hasChanged: true }],
    });
    expect(decodeInterrupt(fromHex('50 02'), 1)).toEqual({
      type: 'NotifySlotChange',
      slots: [{ slot: 0, isPresent: false, hasChanged: true }],
    });
  });
  it('NotifySlotChange, 6 slots', () => {
    const m = decodeInterrupt(fromHex('50 8C 03'), 6);
    expect(
      m.type === 'NotifySlotChange' &&
        m.slots.filter((s) => s.hasChanged).map((s) => [s.slot, s.isPresent]),
    ).toEqual([
      [1, true],
      [3, false],
      [4, true],
    ]);
    expect(
      toHex(
        encodeNotifySlotChange([
          { isPresent: false, hasChanged: false },
          { isPresent: true, hasChanged: true },
          { isPresent: false, hasChanged: false },
          { isPresent: false, hasChanged: true },
          { isPresent: true, hasChanged: true },
        ]),
      ),
    ).toBe('50 8C 03');
  });
  it('HardwareError and unknown', () => {
    expect(decodeInterrupt(fromHex('51 00 07 01'), 1)).toEqual({
      type: 'HardwareError',
      slot: 0,
      seq: 7,
      code: 1,
    });
    expect(decodeInterrupt(fromHex('52'), 1).type).toBe('Unknown');
  });
});

describe('CcidMessageAssembler (ccid.md §4.1, §16.2)', () => {
  const msg = encodeResponse({
    type: 'DataBlock',
    slot: 0,
    seq: 1,
    data: new Uint8Array(36).map((_, i) => i),
  });
  it('every split point, ZLPs in between', () => {
    for (let cut = 0; cut <= msg.length; cut++) {
      const a = new CcidMessageAssembler();
      const out = [
        ...a.push(msg.subarray(0, cut)),
        ...a.push(new Uint8Array(0)),
        ...a.push(msg.subarray(cut)),
      ];
      expect(out.map((m) => toHex(m))).toEqual([toHex(msg)]);
      expect(a.state).toBe('header');
    }
  });
  it('one byte at a time', () => {
    const a = new CcidMessageAssembler();
    const out: Uint8Array[] = [];
    for (const b of msg) out.push(...a.push(Uint8Array.of(b)));
    expect(out).toHaveLength(1);
  });
  it('two messages in one chunk', () => {
    const te = encodeResponse({ type: 'DataBlock', slot: 0, seq: 1, commandStatus: 2, bError: 1 });
    expect(new CcidMessageAssembler().push(new Uint8Array([...te, ...msg]))).toHaveLength(2);
  });
  it('rejects an oversize length at the header, before buffering the body', () => {
    const a = new CcidMessageAssembler({ maxMessageBytes: 64 });
    expect(a.push(fromHex('80 FF 00 00 00 00 01 00 00 00'))).toEqual([]);
    expect(a.bufferedBytes).toBe(0);
    expect(a.droppedBytes).toBe(10);
    expect(a.push(msg)).toHaveLength(1);
  });
  it('drops garbage with an unknown type', () => {
    const a = new CcidMessageAssembler();
    expect(a.push(fromHex('00 11 22 33 44 55 66 77 88 99 AA'))).toEqual([]);
    expect(a.push(msg)).toHaveLength(1);
  });
});
