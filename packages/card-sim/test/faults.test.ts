import { describe, expect, it } from 'vitest';
import { bytesToHex, hexToBytes } from '../src/bytes.ts';
import { CCID_ERROR } from '../src/ccid-constants.ts';
import { FaultInjector } from '../src/faults.ts';
import { readerProfiles } from '../src/profiles.ts';
import { SimulatedReader } from '../src/simulated-reader.ts';
import { createT0Card, createT1Card } from '../src/virtual-card.ts';
import { encodeCommand, MiniHost } from './helpers/mini-host.ts';
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

describe('fault scenarios', () => {
  it('card pulled mid-APDU: ICC_MUTE with bmICCStatus 2, then NotifySlotChange 50 02', async () => {
    const reader = new SimulatedReader({
      profile: readerProfiles.shortApdu,
      faults: { cardPulledMidApdu: { count: 1 } },
    });
    reader.insertCard(createT0Card());
    const host = new MiniHost(reader);
    await host.open();
    expect(await readInterrupt(reader)).toEqual([0x50, 0x03]);
    await host.powerOn();
    const r = await host.xfr(hexToBytes('00 40 90 00'));
    expect([r.status, r.error]).toEqual([0x42, CCID_ERROR.ICC_MUTE]);
    expect(await readInterrupt(reader)).toEqual([0x50, 0x02]);
    expect(reader.slotState().hasCard).toBe(false);
  });

  it('reader unplugged mid-transfer: the pending read rejects with NotFoundError', async () => {
    const reader = new SimulatedReader({
      profile: readerProfiles.shortApdu,
      faults: { unplugMidTransfer: { count: 1 } },
    });
    reader.insertCard(createT0Card());
    const host = new MiniHost(reader);
    await host.open();
    await host.powerOn();
    const read = reader.device.transferIn(2, 64);
    await reader.device.transferOut(
      1,
      encodeCommand(0x6f, { seq: 2, data: hexToBytes('00 40 90 00') }),
    );
    await expect(read).rejects.toMatchObject({ name: 'NotFoundError' });
    expect(reader.isGone).toBe(true);
  });

  it('a corrupted T=1 block is one-shot: the host R-block gets a clean retransmission', async () => {
    const reader = new SimulatedReader({
      profile: readerProfiles.tpduT1NoAuto,
      faults: { corruptT1Block: { count: 1 } },
    });
    reader.insertCard(createT1Card());
    const host = new MiniHost(reader);
    await host.open();
    await host.powerOn();
    await host.command(0x61, { b7: 1, data: hexToBytes('11100045002000') });
    const bad = decodeBlock((await host.xfr(iBlock(0, false, hexToBytes('00 40 90 00')))).data);
    expect(bad.isEdcOk).toBe(false);
    const good = decodeBlock((await host.xfr(rBlock(0, 1))).data);
    expect(good.isEdcOk).toBe(true);
    expect([good.pcb, bytesToHex(good.inf)]).toEqual([0x00, '9000']);
  });

  it('probabilistic schedules are reproducible with the same seed', async () => {
    const trace = async (seed: number) => {
      const reader = new SimulatedReader({
        profile: readerProfiles.packet16,
        faults: {
          seed,
          strayZlp: { probability: 0.5, count: Infinity },
          splitTransfers: { probability: 0.5, count: Infinity },
        },
      });
      reader.insertCard(createT1Card());
      const host = new MiniHost(reader);
      await host.open();
      await host.powerOn();
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
