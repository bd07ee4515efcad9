/**
 * PcscReader and listReaders against a real pcscd (vpcd in a private network namespace) with
 * the project's simulated cards and Debian's vicc: ATR, protocol, SELECT, card pulled and
 * inserted, pcscd restarted. Needs root and pcscd/vsmartcard-vpcd/vicc: fails, never skips.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ReaderEvent } from '@cardlend/ccid';
import { createPivDemoCard, createT0Card, PIV_AID } from '@cardlend/card-sim';
import { listReaders, openReader } from '../src/index.ts';
import type { PcscReader } from '../src/index.ts';
import { startPcscd, waitForCard, waitUntil } from '../test-support/index.ts';
import type { Pcscd, VpcdCard } from '../test-support/index.ts';

let pcscd: Pcscd;
const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const SELECT_PIV = Uint8Array.of(0x00, 0xa4, 0x04, 0x00, PIV_AID.length, ...PIV_AID, 0x00);

beforeAll(async () => {
  pcscd = await startPcscd();
});

afterAll(async () => {
  await pcscd?.stop();
});

function recordEvents(reader: PcscReader): ReaderEvent[] {
  const events: ReaderEvent[] = [];
  reader.onEvent((e) => events.push(e));
  return events;
}

async function waitForEvents(events: ReaderEvent[], types: ReaderEvent['type'][]): Promise<void> {
  await waitUntil(
    () => types.every((t, i) => events[i]?.type === t),
    `events ${types.join(', ')} (got ${events.map((e) => e.type).join(', ') || 'none'})`,
  );
}

/** `card` inserted in `slot`, its reader opened for `body`; afterwards closed, pulled, absent. */
async function withCardReader(
  card: Parameters<Pcscd['insertCard']>[0],
  slot: 0 | 1,
  body: (reader: PcscReader, link: VpcdCard) => Promise<void>,
): Promise<void> {
  const link = await pcscd.insertCard(card, { slot });
  await waitForCard(pcscd.readers[slot], 'present');
  const reader = await openReader(pcscd.readers[slot]);
  try {
    await body(reader, link);
  } finally {
    await reader.close();
    await link.remove();
    await waitForCard(pcscd.readers[slot], 'absent');
  }
}

describe('PC/SC on a real pcscd with vpcd', () => {
  it("lists vpcd's readers with card state and ATR; the PIV demo card powers on and answers SELECT", async () => {
    const piv = await createPivDemoCard();
    const card = await pcscd.insertCard(piv);
    await waitForCard(pcscd.readers[0], 'present');
    const infos = await listReaders();
    expect(infos.map((i) => [i.name, i.card])).toEqual([
      [pcscd.readers[0], 'present'],
      [pcscd.readers[1], 'absent'],
    ]);
    expect(hex(infos[0]?.atr ?? new Uint8Array(0))).toBe(hex(piv.atr));
    const reader = await openReader(pcscd.readers[0]);
    try {
      const on = await reader.powerOn();
      expect(hex(on.atr)).toBe(hex(piv.atr));
      expect([0, 1]).toContain(on.protocol);
      expect(card.controls).toContain('reset'); // a fresh card for the guest
      const answer = await reader.transmit(SELECT_PIV);
      expect(answer[0]).toBe(0x61); // application property template
      expect(hex(answer.subarray(-2))).toBe('9000');
    } finally {
      await reader.close();
      await card.remove();
      await waitForCard(pcscd.readers[0], 'absent');
    }
  });

  it('a T=0 card in the second reader runs T=0 and answers with data', async () => {
    await withCardReader(createT0Card(), 1, async (reader) => {
      const on = await reader.powerOn();
      expect(on.protocol).toBe(0);
      const answer = await reader.transmit(Uint8Array.of(0x00, 0x20, 0x00, 0x05, 0x05));
      expect([...answer]).toEqual([0, 7, 14, 21, 28, 0x90, 0x00]);
    });
  });

  it('card pulled and put back: card-removed, card-inserted; the command in between fails typed', async () => {
    await withCardReader(await createPivDemoCard(), 0, async (reader, card) => {
      const events = recordEvents(reader);
      await reader.powerOn();
      await card.remove();
      await waitForEvents(events, ['card-removed']);
      await expect(reader.transmit(SELECT_PIV)).rejects.toSatisfy(
        (e: { code?: string }) => e.code === 'CCID_NOT_POWERED' || e.code === 'CCID_CARD_ABSENT',
      );
      expect(await reader.getSlotStatus()).toBe('absent');
      await pcscd.reinsert(card);
      await waitForEvents(events, ['card-removed', 'card-inserted']);
      await reader.powerOn();
      expect(hex((await reader.transmit(SELECT_PIV)).subarray(-2))).toBe('9000');
    });
  });

  it('pcscd restarted: the context is established again and the card comes back', async () => {
    await withCardReader(await createPivDemoCard(), 0, async (reader) => {
      const events = recordEvents(reader);
      await reader.powerOn();
      const firstPid = pcscd.pid;
      await pcscd.restart(); // SIGTERM, new pcscd in a new namespace, the card plugged in again
      expect(pcscd.pid).not.toBe(firstPid);
      await waitForEvents(events, ['card-removed', 'card-inserted']);
      const on = await reader.powerOn();
      expect(on.atr.length).toBeGreaterThan(2);
      expect(hex((await reader.transmit(SELECT_PIV)).subarray(-2))).toBe('9000');
    });
  });

  it("Debian's vicc, an independent card: its ATR and a SELECT", async () => {
    const vicc = await pcscd.startVicc({ slot: 0 });
    try {
      await waitForCard(pcscd.readers[0], 'present');
      const reader = await openReader(pcscd.readers[0]);
      try {
        const on = await reader.powerOn();
        expect(hex(on.atr)).toBe('3b951381018073ff01000b');
        expect(on.protocol).toBe(1);
        // SELECT the MF by file identifier, no response data (vicc crashes on FCI requests).
        const answer = await reader.transmit(
          Uint8Array.of(0x00, 0xa4, 0x00, 0x0c, 0x02, 0x3f, 0x00),
        );
        expect(hex(answer)).toBe('9000');
      } finally {
        await reader.close();
      }
    } finally {
      await vicc.stop();
      await waitForCard(pcscd.readers[0], 'absent');
    }
  });
});
