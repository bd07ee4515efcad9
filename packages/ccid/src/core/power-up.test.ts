import { describe, expect, it } from 'vitest';
import {
  ESTEID_ATR,
  T0_ONLY_ATR,
  TPDU_READER,
  YUBIKEY_ATR,
  answer,
} from '../../test/core-fixtures.ts';
import { fromHex, toHex } from './bytes.ts';
import { CcidError } from './errors.ts';
import type { CcidClassDescriptor } from './descriptors.ts';
import type { CcidResponse } from './messages.ts';
import { PowerOnSequence, voltageSequence } from './power-on.ts';
import type { PowerOnStep } from './power-on.ts';
import type { PowerUpAction } from './power-up.ts';
import { PowerUp } from './power-up.ts';

describe('voltageSequence (ccid.md §6.3)', () => {
  const cases: [string, Partial<CcidClassDescriptor>, number[]][] = [
    ['automatic voltage (0x08): automatic only', { dwFeatures: 0x00010008 }, [0]],
    ['automatic activation (0x04): automatic only', { dwFeatures: 0x00010004 }, [0]],
    ['all classes: 5 V, 1.8 V, 3 V (libccid order)', { bVoltageSupport: 7 }, [1, 3, 2]],
    ['5 V only: 5 V first, then the rest', { bVoltageSupport: 1 }, [1, 3, 2]],
    ['3 V only: 3 V first', { bVoltageSupport: 2 }, [2, 1, 3]],
    ['1.8 V only: 1.8 V first', { bVoltageSupport: 4 }, [3, 1, 2]],
    ['5 V and 3 V: those first', { bVoltageSupport: 3 }, [1, 2, 3]],
    ['nothing announced: libccid order', { bVoltageSupport: 0 }, [1, 3, 2]],
  ];
  for (const [name, d, expected] of cases)
    it(name, () => expect(voltageSequence({ ...TPDU_READER, ...d })).toEqual(expected));
});

const atrOf = (hex: string): CcidResponse => answer('DataBlock', { data: fromHex(hex) });
const failed = (bError: number, iccStatus = 0): CcidResponse =>
  answer('DataBlock', { commandStatus: 1, bError, iccStatus });

describe('PowerOnSequence: answers to IccPowerOn', () => {
  const cases: [string, CcidResponse[], string][] = [
    ['ATR at the first voltage', [atrOf(T0_ONLY_ATR)], 'send 1 | atr'],
    [
      'voltage refused: next class',
      [failed(0x07), failed(0x07), atrOf(T0_ONLY_ATR)],
      'send 1 | send 3 | send 2 | atr',
    ],
    [
      'busy with automatic sequence: same voltage again',
      [failed(0xf2), atrOf(T0_ONLY_ATR)],
      'send 1 | send 1 | atr',
    ],
    [
      'busy more than 3 times: next voltage',
      [failed(0xf2), failed(0xf2), failed(0xf2), failed(0xf2), atrOf(T0_ONLY_ATR)],
      'send 1 | send 1 | send 1 | send 1 | send 3 | atr',
    ],
    ['no card (bmICCStatus 2)', [failed(0xfe, 2)], 'send 1 | CCID_CARD_ABSENT'],
    ['hardware error', [failed(0xfb)], 'send 1 | CCID_HARDWARE_ERROR'],
    [
      'mute at every voltage',
      [failed(0xfe), failed(0xfe), failed(0xfe)],
      'send 1 | send 3 | send 2 | CCID_CARD_MUTE',
    ],
    [
      'other error at the last voltage',
      [failed(0xfe), failed(0xfe), failed(0x07)],
      'send 1 | send 3 | send 2 | CCID_COMMAND_FAILED',
    ],
    [
      'success without ATR bytes counts as a failure',
      [answer('DataBlock'), failed(0x07), failed(0x07)],
      'send 1 | send 3 | send 2 | CCID_COMMAND_FAILED',
    ],
  ];
  for (const [name, answers, trace] of cases)
    it(name, () => {
      const seq = new PowerOnSequence({ descriptor: TPDU_READER, slot: 0 });
      const out: string[] = [];
      let step: PowerOnStep = seq.start();
      try {
        for (const r of [undefined, ...answers]) {
          if (r) step = seq.onResponse(r);
          out.push(step.type === 'send' ? `send ${step.powerSelect}` : 'atr');
        }
      } catch (e) {
        out.push((e as { code: string }).code);
      }
      expect(out.join(' | ')).toBe(trace);
    });
});

/**
 * Runs a dialogue: each entry is the reader's answer to the action before it (or the IFSD
 * outcome). 'done' shows the T=1 engine's IFSD: 32 until a negotiation (not run here) raises it,
 * dwMaxIFSD when the reader negotiates it itself (0x400).
 */
function run(
  descriptor: CcidClassDescriptor,
  dialogue: (CcidResponse | { ifsdError?: unknown })[],
  opts: { preferredProtocol?: 0 | 1; level?: 'tpdu' | 'character' | 'short-apdu' } = {},
): string[] {
  const up = new PowerUp({
    descriptor,
    level: opts.level ?? 'tpdu',
    slot: 0,
    preferredProtocol: opts.preferredProtocol,
  });
  const out: string[] = [];
  const show = (a: PowerUpAction): string => {
    const note = a.note ? ` (${a.note})` : '';
    if (a.type === 'negotiate-ifsd') return `IFSD ${a.ifsd}${note}`;
    if (a.type === 'done') return `done T=${a.card.protocol} IFSD ${a.card.t1?.ifsd ?? '-'}${note}`;
    const c = a.command;
    const detail =
      c.type === 'IccPowerOn' ? ` ${c.powerSelect}` : 'data' in c ? ` ${toHex(c.data)}` : '';
    return `${c.type}${detail}${note}`;
  };
  try {
    let a = up.start();
    out.push(show(a));
    for (const step of dialogue) {
      a =
        'type' in step
          ? up.onResponse(step as CcidResponse)
          : up.onIfsdResult((step as { ifsdError?: unknown }).ifsdError);
      out.push(show(a));
    }
  } catch (e) {
    out.push((e as { code: string }).code);
  }
  return out;
}

const ok = { ifsdError: undefined };
const params = answer('Parameters');
const noAuto = TPDU_READER;

describe('PowerUp: what the host sends after IccPowerOn (ccid.md §11, §15.4)', () => {
  const cases: [
    string,
    CcidClassDescriptor,
    Parameters<typeof run>[1],
    string[],
    Parameters<typeof run>[2]?,
  ][] = [
    [
      'TPDU reader without 0x80/0x40/0x400, T=1 card with TA1: PPS, SetParameters, S(IFS request)',
      noAuto,
      [atrOf(YUBIKEY_ATR), answer('DataBlock', { data: fromHex('FF 11 13 FD') }), params, ok],
      [
        'IccPowerOn 1',
        'XfrBlock FF 11 13 FD',
        'SetParameters 13 10 00 15 00 FE 00',
        'IFSD 254',
        'done T=1 IFSD 32',
      ],
    ],
    [
      'PPS refused by the card: reset, then the default protocol at Fd/Dd',
      noAuto,
      [
        atrOf(YUBIKEY_ATR),
        failed(0xfe),
        answer('SlotStatus', { iccStatus: 1 }),
        atrOf(YUBIKEY_ATR),
        params,
        ok,
      ],
      [
        'IccPowerOn 1',
        'XfrBlock FF 11 13 FD',
        'IccPowerOff (PPS failed (bError 0xfe); resetting the card)',
        'IccPowerOn 1',
        'SetParameters 11 10 00 15 00 FE 00',
        'IFSD 254',
        'done T=1 IFSD 32',
      ],
    ],
    [
      'PPS answered with another PPS1: also a failure',
      noAuto,
      [
        atrOf(YUBIKEY_ATR),
        answer('DataBlock', { data: fromHex('FF 11 95 7B') }),
        answer('SlotStatus'),
        atrOf(YUBIKEY_ATR),
        params,
        ok,
      ],
      [
        'IccPowerOn 1',
        'XfrBlock FF 11 13 FD',
        'IccPowerOff (PPS failed (PPS1 differs); resetting the card)',
        'IccPowerOn 1',
        'SetParameters 11 10 00 15 00 FE 00',
        'IFSD 254',
        'done T=1 IFSD 32',
      ],
    ],
    [
      'PPS to T=1 refused on a T=0-default card: the reset card stays T=0',
      { ...noAuto, dwMaxCCIDMessageLength: 200 },
      [atrOf(ESTEID_ATR), failed(0x00), answer('SlotStatus'), atrOf(ESTEID_ATR), params],
      [
        'IccPowerOn 1',
        'XfrBlock FF 11 96 78',
        'IccPowerOff (PPS failed (bError 0x0); resetting the card)',
        'IccPowerOn 1',
        'SetParameters 11 00 00 0A 00',
        'done T=0 IFSD -',
      ],
    ],
    [
      'SetParameters refused: logged, the reader keeps its values',
      { ...noAuto, dwFeatures: 0x000104b8 },
      [atrOf(YUBIKEY_ATR), answer('Parameters', { commandStatus: 1, bError: 0x00 })],
      [
        'IccPowerOn 0',
        'SetParameters 13 10 00 15 00 FE 00',
        'done T=1 IFSD 254 (SetParameters refused, bError 0x0)',
      ],
    ],
    [
      'SetParameters finds no card: CCID_CARD_ABSENT',
      { ...noAuto, dwFeatures: 0x000104b8 },
      [atrOf(YUBIKEY_ATR), answer('Parameters', { commandStatus: 1, iccStatus: 2, bError: 0xfe })],
      ['IccPowerOn 0', 'SetParameters 13 10 00 15 00 FE 00', 'CCID_CARD_ABSENT'],
    ],
    [
      'IFSD negotiation times out: IFSD 32 kept',
      { ...noAuto, dwFeatures: 0x000100b8 },
      [atrOf(YUBIKEY_ATR), params, { ifsdError: { code: 'CCID_TIMEOUT' } }],
      [
        'IccPowerOn 0',
        'SetParameters 13 10 00 15 00 FE 00',
        'IFSD 254',
        'done T=1 IFSD 32 (IFSD negotiation failed; keeping IFSD 32)',
      ],
    ],
    [
      'auto negotiation (0x40): neither PPS nor SetParameters',
      { ...noAuto, dwFeatures: 0x000104f8 },
      [atrOf(YUBIKEY_ATR)],
      ['IccPowerOn 0', 'done T=1 IFSD 254'],
    ],
    [
      'APDU level: SetParameters only, the reader speaks T=1',
      { ...noAuto, dwFeatures: 0x000404b8 },
      [atrOf(YUBIKEY_ATR), params],
      ['IccPowerOn 0', 'SetParameters 13 10 00 15 00 FE 00', 'done T=1 IFSD -'],
    ],
    [
      'character level: no PPS, card stays at Fd/Dd',
      { ...noAuto, dwFeatures: 0x00000030 },
      [atrOf(YUBIKEY_ATR), params],
      // The planner's level comes from dwFeatures: the host speaks T=1 blocks only at TPDU level.
      ['IccPowerOn 1', 'SetParameters 11 10 00 15 00 FE 00', 'done T=1 IFSD -'],
      { level: 'character' },
    ],
    [
      'preferred T=1 on a T=0-default card: PPS to T=1',
      noAuto,
      [atrOf(ESTEID_ATR), answer('DataBlock', { data: fromHex('FF 11 96 78') }), params, ok],
      [
        'IccPowerOn 1',
        'XfrBlock FF 11 96 78',
        'SetParameters 96 10 00 45 00 FE 00',
        'IFSD 254',
        'done T=1 IFSD 32',
      ],
      { preferredProtocol: 1 },
    ],
    ['no card: CCID_CARD_ABSENT', noAuto, [failed(0xfe, 2)], ['IccPowerOn 1', 'CCID_CARD_ABSENT']],
  ];
  for (const [name, d, dialogue, expected, opts] of cases)
    it(name, () => expect(run(d, dialogue, opts)).toEqual(expected));

  it.each([
    ['CCID_READER_GONE', true],
    ['CCID_CARD_ABSENT', true],
    ['CCID_ABORTED', true],
    ['CCID_CLOSED', true],
    ['CCID_TIMEOUT', false],
    ['CCID_PROTOCOL', false],
  ] as const)('IFSD negotiation failing with %s ends the power-up: %s', (code, isTerminal) => {
    const up = new PowerUp({
      descriptor: { ...noAuto, dwFeatures: 0x000100b8 },
      level: 'tpdu',
      slot: 0,
    });
    up.start();
    up.onResponse(atrOf(YUBIKEY_ATR));
    expect(up.onResponse(params).type).toBe('negotiate-ifsd');
    const error = new CcidError(code, 'from the T=1 exchange');
    if (isTerminal) expect(() => up.onIfsdResult(error)).toThrow(error);
    else expect(up.onIfsdResult(error).type).toBe('done');
  });
});
