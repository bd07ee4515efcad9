/**
 * Why listReaders reads the ATR with a short shared connection (README "The binding"): the
 * ATR in pcsc-mini 0.1.3's reader `change` events is not the card's. pcsc-lite's
 * SCardGetStatusChange fills rgbAtr correctly (checked with the C API: the card's ATR, its
 * length in cbAtr), and pcsc-mini passes the right length on, but the bytes are
 * `25 00 00 …`, whichever card and reader. This test pins that defect on a real pcscd with
 * two different cards: when it fails, a pcsc-mini upgrade reports the ATR right and the
 * listing can take it from the reader state instead of connecting.
 */
import { createRequire } from 'node:module';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type * as PcscMini from 'pcsc-mini';
import { createPivDemoCard, createT0Card } from '@cardlend/card-sim';
import { startPcscd, waitForCard, waitUntil } from '../test-support/index.ts';
import type { Pcscd, VpcdCard } from '../test-support/index.ts';

const mini = createRequire(import.meta.url)('pcsc-mini') as typeof PcscMini;
const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

let pcscd: Pcscd;
const cards: VpcdCard[] = [];

beforeAll(async () => {
  pcscd = await startPcscd();
  cards.push(await pcscd.insertCard(await createPivDemoCard(), { slot: 0 }));
  cards.push(await pcscd.insertCard(await createT0Card(), { slot: 1 }));
  for (const name of pcscd.readers) await waitForCard(name, 'present');
});

afterAll(async () => {
  for (const c of cards) await c.remove();
  await pcscd?.stop();
});

/** The first `change` event of each reader with a card present: its ATR, as pcsc-mini gives it. */
async function eventAtrs(client: PcscMini.Client): Promise<Map<string, string>> {
  const seen = new Map<string, string>();
  client.on('reader', (reader) => {
    reader.on('change', (status, atr) => {
      const isPresent = (status.raw & mini.ReaderStatus.PRESENT) !== 0;
      if (isPresent && !seen.has(reader.name())) seen.set(reader.name(), hex(atr));
    });
  });
  client.start();
  await waitUntil(() => seen.size === pcscd.readers.length, 'a change event per reader');
  return seen;
}

/** The ATR through SCardConnect (shared) + SCardStatus. */
async function statusAtr(client: PcscMini.Client, name: string): Promise<string> {
  const card = await client.reader(name)!.connect(mini.CardMode.SHARED);
  try {
    return hex((await card.state()).atr);
  } finally {
    await card.disconnect(mini.CardDisposition.LEAVE);
  }
}

it("pcsc-mini 0.1.3: the change event's ATR has the right length but not the card's bytes", async () => {
  const client = new mini.Client();
  try {
    const fromEvents = await eventAtrs(client);
    const fromStatus = new Map<string, string>();
    for (const name of pcscd.readers) fromStatus.set(name, await statusAtr(client, name));
    expect([...fromStatus.values()]).toEqual([
      '3b8c8001636172646c656e642050495675', // the PIV demo card
      '3b08636172646c656e64', // the T=0 card
    ]);
    for (const name of pcscd.readers) {
      const event = fromEvents.get(name) ?? '';
      const status = fromStatus.get(name) ?? '';
      expect(event.length).toBe(status.length); // the right length (cbAtr) …
      // … but neither this card's bytes nor the other card's (seen: 25 00 00 …, every card)
      for (const atr of fromStatus.values()) expect(atr.startsWith(event)).toBe(false);
    }
  } finally {
    client.stop();
  }
});
