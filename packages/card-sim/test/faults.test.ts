import { describe, expect, it } from 'vitest';
import { bytesToHex, hexToBytes } from '../src/bytes.ts';
import type { FaultPlan } from '../src/faults.ts';
import { FaultInjector } from '../src/faults.ts';
import type { ReaderProfile } from '../src/profiles.ts';
import { readerProfiles } from '../src/profiles.ts';
import { SimulatedReader } from '../src/simulated-reader.ts';
import { createT0Card, createT1Card } from '../src/virtual-card.ts';
import { encodeCommand, MiniHost, poweredHost } from './helpers/mini-host.ts';
import { decodeBlock, iBlock, rBlock } from './helpers/t1-host.ts';

const readInterrupt = async (reader: SimulatedReader) => {
  const r = await reader.device.transferIn(3, 8);
  return Array.from(new Uint8Array(r.data!.buffer, r.data!.byteOffset, r.data!.byteLength));
};

describe('FaultInjector', () => {
  it('honours after / count / probability and is reproducible per seed', () => {
    const run = (seed: number) => {
      const f = new FaultInjector({ seed, strayZlp: { after: 2, count: 5, probability: 0.5 } });
      return Array.from({ length: 40 }, () => f.shouldFire('strayZlp'));
    };
    const a = run(7);
    expect(run(7)).toEqual(a);
    expect(a.slice(0, 2)).toEqual([false, false]);
    expect(a.filter(Boolean)).toHaveLength(5);
    expect(run(8)).not.toEqual(a);
    expect(new FaultInjector({}).shouldFire('bulkInStall')).toBe(false);
  });
});

type Step =
  | { write: number; seq: number; data?: Uint8Array }
  | { out: number; seq: number }
  | { read: number }
  | { clearHalt: 'in' | 'out' }
  | 'reply'
  | 'interrupt'
  | 'card'
  | { xfr: Uint8Array };

/** Runs host steps against the simulated reader; returns a trace line per step that yields something. */
async function trace(reader: SimulatedReader, host: MiniHost, steps: Step[]): Promise<string[]> {
  const out: string[] = [];
  for (const s of steps) {
    if (s === 'card') out.push(`card ${reader.slotState().hasCard ? 'in' : 'out'}`);
    else if (s === 'reply') out.push(`reply ${(await host.read()).seq}`);
    else if (s === 'interrupt')
      out.push(`interrupt ${bytesToHex(Uint8Array.from(await readInterrupt(reader)))}`);
    else if ('write' in s)
      await host.write(encodeCommand(s.write, { seq: s.seq, ...(s.data ? { data: s.data } : {}) }));
    else if ('out' in s) {
      const r = await reader.device.transferOut(1, encodeCommand(s.out, { seq: s.seq }));
      out.push(`out ${r.status} ${r.bytesWritten}`);
    } else if ('read' in s) {
      const r = await reader.device.transferIn(2, s.read);
      out.push(r.status === 'ok' ? `in ${r.data!.byteLength}` : `in ${r.status}`);
    } else if ('clearHalt' in s)
      await reader.device.clearHalt(s.clearHalt, s.clearHalt === 'in' ? 2 : 1);
    else {
      const r = await host.xfr(s.xfr);
      out.push(`xfr status ${r.status.toString(16)} error ${r.error.toString(16)}`);
    }
  }
  return out;
}

/** GET (INS 20) with P1P2 = n returns n data bytes: response message = 10 + n + 2 bytes. */
const getApdu = (n: number): Uint8Array => Uint8Array.of(0x00, 0x20, n >> 8, n & 0xff, n & 0xff);
const XFR = 0x6f;
const GET_SLOT_STATUS = 0x65;

/** [name, profile, faults, card to insert (powered on after open) or none, steps, trace]. */
const scenarios: [string, ReaderProfile, FaultPlan, 'T=0' | 'T=1' | 'none', Step[], string[]][] = [
  [
    'splitTransfers: full packets first, then the remainder (ccid.md §16.2)',
    readerProfiles.packet16,
    { splitTransfers: { count: 5 } },
    'T=1',
    [{ write: XFR, seq: 1, data: getApdu(34) }, { read: 1024 }, { read: 1024 }], // 46-byte message
    ['in 32', 'in 14'],
  ],
  [
    'strayZlp: a zero-length packet before a response',
    readerProfiles.shortApdu,
    { strayZlp: { after: 1 } },
    'T=1',
    [{ write: GET_SLOT_STATUS, seq: 7 }, { read: 64 }, 'reply'],
    ['in 0', 'reply 7'],
  ],
  [
    'bulkInStall: stalls until clearHalt, the answer is kept',
    readerProfiles.shortApdu,
    { bulkInStall: { after: 1 } },
    'T=1',
    [{ write: GET_SLOT_STATUS, seq: 3 }, { read: 64 }, { read: 64 }, { clearHalt: 'in' }, 'reply'],
    ['in stall', 'in stall', 'reply 3'],
  ],
  [
    'bulkOutStall: the data is not taken until clearHalt',
    readerProfiles.shortApdu,
    { bulkOutStall: { after: 1 } },
    'T=1',
    [
      { out: GET_SLOT_STATUS, seq: 4 },
      { clearHalt: 'out' },
      { write: GET_SLOT_STATUS, seq: 5 },
      'reply',
    ],
    ['out stall 0', 'reply 5'],
  ],
  [
    'staleFrameAtOpen: an old SlotStatus (bSeq 0xA7) waits in the queue',
    readerProfiles.shortApdu,
    { staleFrameAtOpen: true },
    'none',
    [{ write: GET_SLOT_STATUS, seq: 1 }, 'reply', 'reply'],
    ['reply 167', 'reply 1'],
  ],
  [
    'cutAnswer: a DataBlock loses its tail, the next answer is whole',
    readerProfiles.shortApdu,
    { cutAnswer: { after: 1, keepBytes: 20 } }, // after the IccPowerOn answer
    'T=1',
    [
      { write: XFR, seq: 1, data: getApdu(100) },
      { read: 4096 },
      { write: GET_SLOT_STATUS, seq: 2 },
      'reply',
    ],
    ['in 20', 'reply 2'],
  ],
  [
    'cardPulledMidApdu: ICC_MUTE with bmICCStatus 2, then NotifySlotChange 50 02',
    readerProfiles.shortApdu,
    { cardPulledMidApdu: { count: 1 } },
    'T=0',
    [{ xfr: hexToBytes('00 40 90 00') }, 'interrupt', 'card'],
    ['xfr status 42 error fe', 'interrupt 5002', 'card out'],
  ],
];

describe('fault scenarios', () => {
  for (const [name, profile, faults, card, steps, expected] of scenarios)
    it(name, async () => {
      const reader = new SimulatedReader({ profile, faults });
      if (card !== 'none') reader.insertCard(card === 'T=0' ? createT0Card() : createT1Card());
      const host = new MiniHost(reader);
      await host.open();
      if (card !== 'none') {
        if (profile.hasInterruptEndpoint) expect(await readInterrupt(reader)).toEqual([0x50, 0x03]);
        await host.powerOn();
      }
      expect(await trace(reader, host, steps)).toEqual(expected);
      expect(
        Object.keys(reader.faults.firedCounts).length + (faults.staleFrameAtOpen ? 1 : 0),
      ).toBe(1);
    });

  it('reader unplugged mid-transfer: the pending read rejects with NotFoundError', async () => {
    const { reader } = await poweredHost(readerProfiles.shortApdu, createT0Card(), {
      unplugMidTransfer: { count: 1 },
    });
    const read = reader.device.transferIn(2, 64);
    await reader.device.transferOut(
      1,
      encodeCommand(0x6f, { seq: 2, data: hexToBytes('00 40 90 00') }),
    );
    await expect(read).rejects.toMatchObject({ name: 'NotFoundError' });
    expect(reader.isGone).toBe(true);
  });

  it('a corrupted T=1 block is one-shot: the host R-block gets a clean retransmission', async () => {
    const { host } = await poweredHost(readerProfiles.tpduT1NoAuto, createT1Card(), {
      corruptT1Block: { count: 1 },
    });
    await host.command(0x61, { b7: 1, data: hexToBytes('11100045002000') });
    const bad = decodeBlock((await host.xfr(iBlock(0, false, hexToBytes('00 40 90 00')))).data);
    expect(bad.isEdcOk).toBe(false);
    const good = decodeBlock((await host.xfr(rBlock(0, 1))).data);
    expect(good.isEdcOk).toBe(true);
    expect([good.pcb, bytesToHex(good.inf)]).toEqual([0x00, '9000']);
  });

  it('probabilistic schedules are reproducible with the same seed', async () => {
    const trace = async (seed: number) => {
      const { reader, host } = await poweredHost(readerProfiles.packet16, createT1Card(), {
        seed,
        strayZlp: { probability: 0.5, count: Infinity },
        splitTransfers: { probability: 0.5, count: Infinity },
      });
      const sizes: number[] = [];
      for (let i = 0; i < 10; i++) {
        await host.write(encodeCommand(0x6f, { seq: i + 1, data: hexToBytes('00 20 00 28 28') }));
        for (;;) {
          const r = await reader.device.transferIn(2, 4096);
          sizes.push(r.data!.byteLength);
          if (r.data!.byteLength % 16 !== 0) break;
        }
      }
      return sizes;
    };
    const a = await trace(42);
    expect(await trace(42)).toEqual(a);
    expect(a).toContain(0); // some stray ZLPs
  });
});
