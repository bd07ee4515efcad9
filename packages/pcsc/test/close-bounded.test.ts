/**
 * Closing a context while the watch is never quiet: pcsc-mini's stop() is only called after
 * a quiet time (QUIET_BEFORE_STOP_MS, see pcsc-mini-binding.ts), and every card call of this
 * process counts as activity. That wait is bounded (MAX_STOP_DELAY_MS), so close() resolves
 * and the process can exit even while a card is lent and busy. Real pcscd, the PIV demo card
 * answering commands back to back through another context of this process.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createPivDemoCard, PIV_AID } from '@cardlend/card-sim';
import { listReaders, openReader, PcscContext } from '../src/index.ts';
import type { PcscReader } from '../src/index.ts';
import { startPcscd, waitForCard, waitUntil } from '../test-support/index.ts';
import type { Pcscd, VpcdCard } from '../test-support/index.ts';

/** The binding's longest wait for a quiet watch (3 s) plus slack for a loaded machine. */
const CLOSE_BOUND_MS = 3000 + 2000;
const SELECT_PIV = Uint8Array.of(0x00, 0xa4, 0x04, 0x00, PIV_AID.length, ...PIV_AID, 0x00);

let pcscd: Pcscd;
let card: VpcdCard;

beforeAll(async () => {
  pcscd = await startPcscd();
  card = await pcscd.insertCard(await createPivDemoCard());
  await waitForCard(pcscd.readers[0], 'present');
});

afterAll(async () => {
  await card?.remove();
  await pcscd?.stop();
});

/** Transmits SELECT PIV back to back until `stop()`; `count()` says how many answered. */
function keepBusy(reader: PcscReader): { count(): number; stop(): Promise<void> } {
  let answered = 0;
  let isStopping = false;
  const loop = (async () => {
    while (!isStopping) {
      await reader.transmit(SELECT_PIV);
      answered++;
    }
  })();
  return {
    count: () => answered,
    stop: async () => {
      isStopping = true;
      await loop;
    },
  };
}

it('close() resolves within its bound while a card of this process is busy; listing works afterwards', async () => {
  const lent = await openReader(pcscd.readers[0]);
  try {
    await lent.powerOn();
    const busy = keepBusy(lent);
    try {
      for (let i = 0; i < 2; i++) {
        const context = new PcscContext();
        await context.settled();
        const before = busy.count();
        const started = Date.now();
        await context.close();
        expect(Date.now() - started).toBeLessThan(CLOSE_BOUND_MS);
        // The card really was busy all along (no quiet time for the watch).
        await waitUntil(() => busy.count() > before + 10, 'more answers from the busy card');
      }
    } finally {
      await busy.stop();
    }
  } finally {
    await lent.close();
  }
  const [first] = await listReaders();
  expect(first).toMatchObject({ name: pcscd.readers[0], card: 'present' });
});
