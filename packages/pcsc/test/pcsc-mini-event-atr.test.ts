/**
 * Why listReaders reads the ATR with a short shared connection (README "The binding"): the
 * ATR in pcsc-mini 0.1.3's reader `change` events is not the card's. pcsc-lite's
 * SCardGetStatusChange fills rgbAtr correctly (checked with the C API: the card's ATR, its
 * length in cbAtr), and pcsc-mini passes the right length on, but the bytes are
 * `25 00 00 …`, whichever card and reader. This test pins that defect on a real pcscd with
 * two different cards: when it fails, a pcsc-mini upgrade reports the ATR right and the
 * listing can take it from the reader state instead of connecting.
 */
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createPivDemoCard, createT0Card } from '@cardlend/card-sim';
import { startPcscd, waitForCard } from '../test-support/index.ts';
import type { Pcscd, VpcdCard } from '../test-support/index.ts';

/** The reads run in their own process, which can end without pcsc-mini's stop(): see it. */
const SCRIPT = fileURLToPath(new URL('./helpers/event-atr.mjs', import.meta.url));

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

type Atrs = Record<string, { event: string; status: string }>;

/** Each reader's ATR from its first `change` event and from SCardStatus, as pcsc-mini gives them. */
function readAtrs(readers: readonly string[]): Promise<Atrs> {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, [SCRIPT, ...readers], { timeout: 20_000 }, (err, stdout, stderr) => {
      let result: Atrs & { error?: string };
      try {
        result = JSON.parse(stdout.trim().split('\n').pop() || '{}') as typeof result;
      } catch {
        reject(new Error(`event-atr.mjs printed no JSON: ${stdout}${stderr}`));
        return;
      }
      if (err || result.error) reject(new Error(`event-atr.mjs: ${result.error ?? err?.message}`));
      else resolve(result);
    });
  });
}

it("pcsc-mini 0.1.3: the change event's ATR has the right length but not the card's bytes", async () => {
  const atrs = await readAtrs(pcscd.readers);
  const fromStatus = pcscd.readers.map((name) => atrs[name]?.status ?? '');
  expect(fromStatus).toEqual([
    '3b8c8001636172646c656e642050495675', // the PIV demo card
    '3b08636172646c656e64', // the T=0 card
  ]);
  for (const name of pcscd.readers) {
    const event = atrs[name]?.event ?? '';
    expect(event.length).toBe(atrs[name]?.status.length); // the right length (cbAtr) …
    // … but neither this card's bytes nor the other card's (seen: 25 00 00 …, every card)
    for (const atr of fromStatus) expect(atr.startsWith(event)).toBe(false);
  }
});
