import { describe, expect, it } from 'vitest';
import type { CcidInterruptMessage } from './messages.ts';
import type { SlotStatus } from './reader-errors.ts';
import { SlotPresence } from './slot-presence.ts';

type Input =
  | { status: SlotStatus; isPowered?: boolean; slot?: number }
  | { notify: [slot: number, isPresent: boolean, hasChanged: boolean][] }
  | { hardwareError: number };

/** Feeds inputs to a 2-slot presence tracker; returns events ("inserted 0") and unpowered slots ("unpowered 0"). */
function run(inputs: Input[]): string[] {
  const p = new SlotPresence(2);
  const out: string[] = [];
  for (const i of inputs) {
    let m: CcidInterruptMessage | undefined;
    if ('notify' in i)
      m = {
        type: 'NotifySlotChange',
        slots: i.notify.map(([slot, isPresent, hasChanged]) => ({ slot, isPresent, hasChanged })),
      };
    else if ('hardwareError' in i)
      m = { type: 'HardwareError', slot: 0, seq: 1, code: i.hardwareError };
    const u = m
      ? p.onInterrupt(m)
      : p.onStatus(
          (i as { slot?: number }).slot ?? 0,
          (i as { status: SlotStatus }).status,
          (i as { isPowered?: boolean }).isPowered ?? false,
        );
    for (const e of u.events)
      out.push(
        e.type === 'hardware-error'
          ? `hardware-error ${e.code}`
          : `${e.type.slice(5)} ${'slot' in e ? e.slot : ''}`,
      );
    for (const s of u.unpowered) out.push(`unpowered ${s}`);
  }
  return out;
}

describe('SlotPresence (ccid.md §9.1, §11)', () => {
  const cases: [string, Input[], string[]][] = [
    ['first status with a card: inserted', [{ status: 'active' }], ['inserted 0']],
    ['first status without a card: nothing to report', [{ status: 'absent' }], ['unpowered 0']],
    [
      'same state twice: reported once',
      [{ status: 'inactive' }, { status: 'inactive' }],
      ['inserted 0'],
    ],
    [
      'card goes away',
      [{ status: 'active' }, { status: 'absent', isPowered: true }],
      ['inserted 0', 'removed 0', 'unpowered 0'],
    ],
    [
      'our powered card reads inactive: pulled and re-inserted',
      [{ status: 'active' }, { status: 'inactive', isPowered: true }],
      ['inserted 0', 'removed 0', 'inserted 0', 'unpowered 0'],
    ],
    [
      'inactive while unpowered is no change',
      [{ status: 'active' }, { status: 'inactive' }],
      ['inserted 0'],
    ],
    ['NotifySlotChange: inserted', [{ notify: [[0, true, true]] }], ['inserted 0']],
    ['NotifySlotChange without the changed bit: ignored', [{ notify: [[0, true, false]] }], []],
    [
      '"present, changed" while known present: removed then inserted',
      [{ notify: [[0, true, true]] }, { notify: [[0, true, true]] }],
      ['inserted 0', 'removed 0', 'inserted 0', 'unpowered 0'],
    ],
    [
      'removed by notification',
      [{ notify: [[1, true, true]] }, { notify: [[1, false, true]] }],
      ['inserted 1', 'removed 1', 'unpowered 1'],
    ],
    [
      'slots are independent',
      [
        {
          notify: [
            [0, true, true],
            [1, true, true],
          ],
        },
      ],
      ['inserted 0', 'inserted 1'],
    ],
    ['HardwareError interrupt', [{ hardwareError: 0x03 }], ['hardware-error 3']],
  ];
  for (const [name, inputs, expected] of cases)
    it(name, () => expect(run(inputs)).toEqual(expected));

  it('learn() sets the state without an event', () => {
    const p = new SlotPresence(1);
    p.learn(0, true);
    expect(p.isPresent(0)).toBe(true);
    expect(p.onStatus(0, 'active', false).events).toEqual([]);
  });
});
