/**
 * PcscContext.close({ atProcessEnd: true }) on a real pcscd (the PIV demo card), while another
 * process connects to the card exclusively again and again (helpers/exclusive-loop.ts): the
 * situation in which pcsc-mini's stop() may block for good and a plain close waits for a
 * quiet watch (up to 3 s). The close at process end never calls stop() and resolves while the
 * other process is still at it; it also ends a plain close still waiting for quiet, without
 * its stop(). The watches left running end when pcscd stops, and that end (pcsc-mini's
 * `error` event) reaches a listener each, so nothing is thrown uncaught.
 */
import { createRequire } from 'node:module';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type * as PcscMini from 'pcsc-mini';
import { createPivDemoCard, PIV_AID } from '@cardlend/card-sim';
import { openReader, PcscContext } from '../src/index.ts';
import { startPcscd, waitForCard, waitUntil } from '../test-support/index.ts';
import type { Pcscd, VpcdCard } from '../test-support/index.ts';
import { startExclusiveLoop } from './helpers/exclusive-loop.ts';

/** The other process's loop, ms: longer than the binding's longest wait for quiet (3 s). */
const LOOP_MS = 4000;
const SELECT_PIV = Uint8Array.of(0x00, 0xa4, 0x04, 0x00, PIV_AID.length, ...PIV_AID, 0x00);

// The binding loads pcsc-mini with Node's require too: this is the same module, so the same
// Client class.
const { Client } = createRequire(import.meta.url)('pcsc-mini') as typeof PcscMini;
/** Client.prototype, with the two methods watched here in their untyped form. */
interface WatchedClient {
  stop(): void;
  emit(event: string | symbol, ...args: unknown[]): boolean;
  listenerCount(event: string): number;
}
const proto = Client.prototype as unknown as WatchedClient;

/** Every call of pcsc-mini's Client.stop(), and every `error` event with its listener count. */
const seen = { stops: 0, errors: [] as { code: unknown; listeners: number }[] };
const originals = {
  stop: Object.getOwnPropertyDescriptor(proto, 'stop'),
  emit: Object.getOwnPropertyDescriptor(proto, 'emit'), // inherited: undefined
};

let pcscd: Pcscd;
let card: VpcdCard;

beforeAll(async () => {
  const { stop, emit } = proto;
  proto.stop = function (this: WatchedClient) {
    seen.stops++;
    stop.call(this);
  };
  proto.emit = function (this: WatchedClient, event, ...args) {
    if (event === 'error') {
      const code = (args[0] as { code?: unknown } | undefined)?.code;
      seen.errors.push({ code, listeners: this.listenerCount('error') });
    }
    return emit.call(this, event, ...args);
  };
  pcscd = await startPcscd();
  card = await pcscd.insertCard(await createPivDemoCard());
  await waitForCard(pcscd.readers[0], 'present');
});

afterAll(async () => {
  for (const [name, original] of Object.entries(originals)) {
    if (original === undefined) Reflect.deleteProperty(proto, name);
    else Object.defineProperty(proto, name, original);
  }
  await card?.remove();
  await pcscd?.stop();
});

/** The contexts closed at process end so far: their clients still watch. */
let leftRunning = 0;

it('resolves while another process keeps the card busy, without stopping the watch', async () => {
  const context = new PcscContext();
  await context.settled();
  const loop = startExclusiveLoop(pcscd.readers[0], LOOP_MS);
  let hasLoopEnded = false;
  const result = loop.result.finally(() => (hasLoopEnded = true));
  await loop.started;

  const stopsBefore = seen.stops;
  const closingAt = Date.now();
  await context.close({ atProcessEnd: true });
  leftRunning++;
  // At once: a plain close waits for 200 ms of quiet at least (QUIET_BEFORE_STOP_MS), here
  // up to 3 s, which the loop outlasts too.
  expect(Date.now() - closingAt).toBeLessThan(200);
  expect(hasLoopEnded).toBe(false);
  expect(seen.stops).toBe(stopsBefore);
  expect((await result).attempts).toBeGreaterThan(10); // it really kept going meanwhile

  // A plain close, for comparison, does stop its client (once the card is quiet again).
  const plain = new PcscContext();
  await plain.settled();
  await plain.close();
  expect(seen.stops).toBe(stopsBefore + 1);
});

it('cuts short a plain close still waiting for a quiet watch (a card of this process busy)', async () => {
  const lent = await openReader(pcscd.readers[0]);
  await lent.powerOn();
  let isBusy = true;
  const busy = (async () => {
    while (isBusy) await lent.transmit(SELECT_PIV);
  })();
  try {
    const context = new PcscContext();
    await context.settled();
    const stopsBefore = seen.stops;
    let isPlainDone = false;
    const plain = context.close().then(() => (isPlainDone = true));
    await new Promise((resolve) => setImmediate(resolve));
    expect(isPlainDone).toBe(false); // it waits for 200 ms of quiet at least
    await context.close({ atProcessEnd: true });
    leftRunning++;
    await plain;
    expect(seen.stops).toBe(stopsBefore);
  } finally {
    isBusy = false;
    await busy;
    await lent.close();
  }
});

it('pcscd stopping later: each watch left running ends with an error a listener takes', async () => {
  const errorsBefore = seen.errors.length;
  await pcscd.stopDaemon();
  await waitUntil(
    () => seen.errors.length >= errorsBefore + leftRunning,
    'the errors of the watches left running',
  );
  expect(leftRunning).toBe(2);
  expect(seen.errors.slice(errorsBefore)).toEqual(
    Array.from({ length: leftRunning }, () => ({ code: 'CommError', listeners: 1 })),
  );
  await pcscd.startDaemon();
});
