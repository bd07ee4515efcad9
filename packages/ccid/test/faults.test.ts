/** One named test per card-sim fault (the property test mixes them at random). */
import type { FaultPlan, ReaderProfile, VirtualCard } from '@cardlend/card-sim';
import { createT0Card, createT1Card, loopbackAnswer, readerProfiles } from '@cardlend/card-sim';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { fromHex } from '../src/core/index.ts';
import type { ReaderEvent } from '../src/webusb/index.ts';
import { echoApdu, hex, settle, setup } from './helpers.ts';

const big = echoApdu(
  new Uint8Array(200).map((_, i) => i),
  256,
);

const recovered: [string, ReaderProfile, () => VirtualCard, FaultPlan][] = [
  [
    'corrupted T=1 block ⇒ R-block, retransmission',
    readerProfiles.tpduT1NoAuto,
    () => createT1Card(),
    { corruptT1Block: { after: 2, count: 3 } },
  ],
  [
    'bulk-IN stall ⇒ clearHalt, answer still read',
    readerProfiles.shortApdu,
    () => createT0Card(),
    { bulkInStall: { after: 3, count: 2 } },
  ],
  [
    'bulk-OUT stall ⇒ clearHalt, command re-sent',
    readerProfiles.extendedApdu,
    () => createT1Card(),
    { bulkOutStall: { after: 3, count: 2 } },
  ],
  [
    'stray ZLPs are skipped',
    readerProfiles.packet16,
    () => createT0Card(),
    { strayZlp: { after: 0, count: 100 } },
  ],
  [
    'answers split over two transfers are reassembled',
    readerProfiles.packet16,
    () => createT1Card(),
    { splitTransfers: { after: 0, count: 100 } },
  ],
  [
    'slow reader: time extensions before every answer',
    readerProfiles.tpduT0,
    () => createT0Card(),
    { slowReader: { after: 0, count: 100, timeExtensions: 4, multiplier: 2, intervalMs: 10 } },
  ],
  [
    'stale frame with an old bSeq at open is dropped',
    readerProfiles.vendorClass,
    () => createT1Card(),
    { staleFrameAtOpen: true },
  ],
];

describe('faults the driver recovers from', () => {
  // Slow readers' intervals and the answer timeouts run on the fake clock.
  beforeEach(() => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date', 'performance'] });
  });
  afterEach(() => {
    vi.useRealTimers();
  });
  for (const [name, profile, card, faults] of recovered) {
    it(name, async () => {
      const { sim, reader } = await settle(setup(profile, card(), { faults, timeoutMs: 2000 }));
      try {
        await settle(reader.powerOn());
        for (let i = 0; i < 5; i++)
          expect(hex(await settle(reader.transmit(big)))).toBe(hex(loopbackAnswer(big)));
        expect(
          Object.values(sim.faults.firedCounts).reduce((a, b) => a + (b ?? 0), 0) +
            (faults.staleFrameAtOpen ? 1 : 0),
        ).toBeGreaterThan(0);
      } finally {
        await reader.close();
      }
    });
  }
});

describe('faults that end in a typed error', () => {
  it('card pulled mid-APDU ⇒ CCID_CARD_ABSENT, card-removed, then CCID_NOT_POWERED', async () => {
    const { reader } = await setup(readerProfiles.tpduT0, createT0Card(), {
      faults: { cardPulledMidApdu: { after: 1 } },
    });
    // The NotifySlotChange comes on the interrupt endpoint: wait for it instead of sleeping.
    const removed = new Promise<ReaderEvent>((resolve) =>
      reader.onEvent((e) => e.type === 'card-removed' && resolve(e)),
    );
    try {
      await reader.powerOn();
      expect(hex(await reader.transmit(fromHex('00A4040000')))).toBe('9000');
      await expect(reader.transmit(big)).rejects.toMatchObject({ code: 'CCID_CARD_ABSENT' });
      await expect(reader.transmit(big)).rejects.toMatchObject({ code: 'CCID_NOT_POWERED' });
      expect(await removed).toEqual({ type: 'card-removed', slot: 0 });
    } finally {
      await reader.close();
    }
  });
  it('unplugged mid-transfer ⇒ CCID_READER_GONE once, reader-gone event once', async () => {
    const { reader } = await setup(readerProfiles.tpduT1NoAuto, createT1Card(), {
      faults: { unplugMidTransfer: { after: 8 } },
    });
    const events: ReaderEvent[] = [];
    reader.onEvent((e) => events.push(e));
    await reader.powerOn().catch(() => undefined);
    const errors: unknown[] = [];
    for (let i = 0; i < 6; i++) await reader.transmit(big).catch((e: unknown) => errors.push(e));
    expect(errors.length).toBeGreaterThan(0);
    expect(errors.at(-1)).toMatchObject({ code: 'CCID_READER_GONE' });
    expect(events.filter((e) => e.type === 'reader-gone')).toHaveLength(1);
    await reader.close();
  });
});
