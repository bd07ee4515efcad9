/**
 * listReaders through one context reads a card's ATR once per insertion (README "The ATR of
 * a listing"), against a real pcscd (vpcd): listings back to back no longer make another
 * program's exclusive connects fail, and a card swapped between listings is never listed with
 * the ATR of the card before it.
 */
import { afterAll, afterEach, beforeAll, beforeEach, expect, it } from 'vitest';
import { createPivDemoCard, createT0Card } from '@cardlend/card-sim';
import { isCardPresentState, listReaders, PcscContext, pcscMiniBinding } from '../src/index.ts';
import type { PcscBinding } from '../src/index.ts';
import { startPcscd, waitForCard, waitUntil } from '../test-support/index.ts';
import type { Pcscd, VpcdCard } from '../test-support/index.ts';
import { startExclusiveLoop } from './helpers/exclusive-loop.ts';

const PIV_ATR = '3b8c8001636172646c656e642050495675';
const T0_ATR = '3b08636172646c656e64';

let pcscd: Pcscd;
let card: VpcdCard | null = null;
let context: PcscContext;
/** SCardConnect calls of this process, by share mode. */
let connects: string[];

/** pcsc-mini, counting this process's SCardConnect calls. */
const countingBinding: PcscBinding = {
  establish(listener) {
    const ctx = pcscMiniBinding.establish(listener);
    return {
      connect: (reader, share, protocols) => {
        connects.push(share);
        return ctx.connect(reader, share, protocols);
      },
      release: () => ctx.release(),
      flushEvents: () => ctx.flushEvents?.() ?? Promise.resolve(),
    };
  },
};

beforeAll(async () => {
  pcscd = await startPcscd();
});

afterAll(async () => {
  await pcscd?.stop();
});

beforeEach(async () => {
  connects = [];
  card = await pcscd.insertCard(await createPivDemoCard());
  await waitForCard(pcscd.readers[0], 'present');
  context = new PcscContext({ binding: countingBinding });
});

afterEach(async () => {
  await context.close();
  await card?.remove();
});

/** Reader 0's ATR in one listing through the shared context: hex, '' without one. */
async function listedAtr(): Promise<string> {
  const info = (await listReaders({ context })).find((i) => i.name === pcscd.readers[0]);
  return info?.atr === null || info?.atr === undefined ? '' : Buffer.from(info.atr).toString('hex');
}

it("listings back to back connect once for the card and never fail another program's exclusive connects", async () => {
  expect(await listedAtr()).toBe(PIV_ATR);
  const loop = startExclusiveLoop(pcscd.readers[0], 3000);
  await loop.started;
  let listings = 0;
  let isDone = false;
  const done = loop.result.finally(() => (isDone = true));
  while (!isDone) {
    expect(await listedAtr()).toBe(PIV_ATR);
    listings++;
  }
  const { attempts, failures } = await done;
  expect(attempts).toBeGreaterThan(50);
  expect(failures).toEqual({});
  expect(listings).toBeGreaterThan(50);
  expect(connects).toEqual(['shared']); // the first listing's, for this insertion
});

it('a card another process holds exclusively: in use until its ATR was read once, then listed with it (no event tells)', async () => {
  const first = startExclusiveLoop(pcscd.readers[0], 1500, 'hold');
  await first.started;
  const [held] = await listReaders({ context });
  expect(held?.atr).toBeNull();
  expect(held?.atrError?.sourceCode).toBe('SCARD_E_SHARING_VIOLATION');
  const [again] = await listReaders({ context }); // the failed read was not kept
  expect(again?.atrError?.sourceCode).toBe('SCARD_E_SHARING_VIOLATION');
  expect(await first.result).toEqual({ attempts: 1, failures: {} });
  expect(connects).toEqual(['shared', 'shared']);
  let atr = '';
  while (atr === '') atr = await listedAtr(); // the holder's disconnect reaches pcscd
  expect(atr).toBe(PIV_ATR);
  const reads = connects.length;
  const later = startExclusiveLoop(pcscd.readers[0], 1500, 'hold');
  await later.started;
  const [info] = await listReaders({ context });
  expect(Buffer.from(info?.atr ?? []).toString('hex')).toBe(PIV_ATR);
  expect(info?.atrError).toBeUndefined();
  expect(info?.isExclusive).toBe(false); // pcscd reported no event for the hold
  expect(connects).toHaveLength(reads);
  expect(await later.result).toEqual({ attempts: 1, failures: {} });
});

/**
 * Lists back to back until reader 0's ATR is `want`, then 5 more times (an old ATR coming back
 * after the new one shows in `seen`); every non-empty ATR seen, in order.
 */
async function listUntil(want: string, seen: string[]): Promise<void> {
  const deadline = Date.now() + 15_000;
  let after = -1;
  while (after < 5) {
    const atr = await listedAtr();
    if (atr !== '' && seen[seen.length - 1] !== atr) seen.push(atr);
    if (atr === want || after >= 0) after++;
    if (after < 0 && Date.now() > deadline)
      throw new Error(`reader 0 not listed with ${want}: ${seen.join()}`);
  }
}

/** Resolves once the context reports reader 0 with a card and an event counter other than `before`. */
async function insertionAfter(before: number | undefined): Promise<void> {
  const isThere = (): boolean => {
    const state = context.readers.get(pcscd.readers[0]);
    return state !== undefined && isCardPresentState(state.state) && state.events !== before;
  };
  await waitUntil(isThere, 'the new card in the context');
}

it('a card swapped with no listing in between is listed with its own ATR', async () => {
  expect(await listedAtr()).toBe(PIV_ATR);
  const before = context.readers.get(pcscd.readers[0])?.events;
  expect(before).toBeGreaterThan(0); // pcsc-lite's counter reaches the context
  await card?.remove();
  card = await pcscd.insertCard(await createT0Card());
  await insertionAfter(before);
  expect(context.readers.get(pcscd.readers[0])?.events).toBe((before ?? 0) + 2);
  expect(await listedAtr()).toBe(T0_ATR);
  expect(await listedAtr()).toBe(T0_ATR);
  expect(connects).toEqual(['shared', 'shared']);
});

it('cards swapped at once while listings run back to back: each listed with its own ATR, never the one before', async () => {
  const seen: string[] = [];
  await listUntil(PIV_ATR, seen);
  for (const next of [createT0Card, createPivDemoCard, createT0Card]) {
    await card?.remove();
    card = await pcscd.insertCard(await next());
    await listUntil(next === createT0Card ? T0_ATR : PIV_ATR, seen);
  }
  // Each ATR change is a card change: the old ATR never came back after the new one.
  expect(seen).toEqual([PIV_ATR, T0_ATR, PIV_ATR, T0_ATR]);
  // One read per insertion, plus reads that met the swap (failed, or dropped by its event).
  expect(connects.length).toBeGreaterThanOrEqual(4);
  expect(connects.length).toBeLessThan(20);
});
