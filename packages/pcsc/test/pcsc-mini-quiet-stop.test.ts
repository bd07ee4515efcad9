/**
 * When the pcsc-mini adapter stops a released client (src/pcsc-mini-binding.ts,
 * QUIET_BEFORE_STOP_MS): pcsc-mini's `Client.stop()` can block the process for good when the
 * reader states change around it. A release stops only after 200 ms without a `change` event
 * and without a card call of this process under way (any context, counted from the end of the
 * last one), at most 3 s after the release; a release at process end never stops. On a fake
 * pcsc-mini module (helpers/fake-pcsc-mini.ts) with fake time.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { createPcscMiniBinding } from '../src/index.ts';
import type { BindingCard, BindingContext, ReleaseOptions } from '../src/index.ts';
import { FakePcscMini } from './helpers/fake-pcsc-mini.ts';
import type { FakeCallKind } from './helpers/fake-pcsc-mini.ts';

const R = 'Fake Reader 00 00';
/** The adapter's quiet time and its bound (QUIET_BEFORE_STOP_MS, MAX_STOP_DELAY_MS). */
const QUIET_MS = 200;
const MAX_DELAY_MS = 3000;
/** SCARD_STATE_PRESENT | SCARD_STATE_CHANGED. */
const PRESENT_CHANGED = 0x22;

let fake: FakePcscMini;
let testClock = 0;

beforeEach(() => {
  // The adapter keeps the time of the last card call in its module: each test's clock starts
  // an hour after the last one's, so that time is long past.
  testClock += 3_600_000;
  vi.useFakeTimers({ now: testClock });
  fake = new FakePcscMini([R]);
});

afterEach(async () => {
  // A call left under way would hold every later release (the count is module state too).
  for (const call of [...fake.calls]) call.finish();
  await vi.runAllTimersAsync();
  vi.useRealTimers();
});

function establish(): BindingContext {
  return createPcscMiniBinding(fake.module).establish({
    onReaderState: () => {},
    onError: (e) => expect.fail(`unexpected watch error: ${e.message}`),
  });
}

/** Starts a release; `isDone()` says whether it has resolved. */
function startRelease(context: BindingContext, opts?: ReleaseOptions): { isDone(): boolean } {
  let isDone = false;
  void context.release(opts).then(() => (isDone = true));
  return { isDone: () => isDone };
}

/** A card connected through `context`, its connect ended a second ago. */
async function connectedCard(context: BindingContext): Promise<BindingCard> {
  const connecting = context.connect(R, 'exclusive');
  fake.call('connect').finish();
  const card = await connecting;
  await vi.advanceTimersByTimeAsync(1000);
  return card;
}

/** Expects no stop() `QUIET_MS - 1` ms from now, and one at `QUIET_MS`. */
async function expectStopAfterQuietTime(): Promise<void> {
  const quietFrom = Date.now();
  await vi.advanceTimersByTimeAsync(QUIET_MS - 1);
  expect(fake.stops).toEqual([]);
  await vi.advanceTimersByTimeAsync(1);
  expect(fake.stops).toEqual([quietFrom + QUIET_MS]);
}

describe('a release stops the client once the reader states are quiet', () => {
  it('with nothing going on: 200 ms after the release', async () => {
    const release = startRelease(establish());
    await expectStopAfterQuietTime();
    await vi.advanceTimersByTimeAsync(0);
    expect(release.isDone()).toBe(true);
  });

  it('not while a connect is under way, however long; 200 ms after it ended', async () => {
    const context = establish();
    const connecting = context.connect(R, 'shared');
    const release = startRelease(context);
    await vi.advanceTimersByTimeAsync(1050);
    expect(fake.stops).toEqual([]);
    expect(release.isDone()).toBe(false);

    fake.call('connect').finish();
    await connecting;
    await expectStopAfterQuietTime();
    await vi.advanceTimersByTimeAsync(0);
    expect(release.isDone()).toBe(true);
  });

  it('a connect that fails counts until it fails', async () => {
    const context = establish();
    const connecting = context.connect(R, 'exclusive').catch((e: unknown) => e);
    startRelease(context);
    await vi.advanceTimersByTimeAsync(700);
    expect(fake.stops).toEqual([]);

    fake.call('connect').fail('RemovedCard');
    expect(await connecting).toMatchObject({ sourceCode: 'SCARD_W_REMOVED_CARD' });
    await expectStopAfterQuietTime();
  });

  const cardCalls: [string, FakeCallKind, (card: BindingCard) => Promise<unknown>][] = [
    ['status', 'state', (card) => card.status()],
    ['transmit', 'transmit', (card) => card.transmit(Uint8Array.of(0x00, 0xca, 0x00, 0x00))],
    ['reconnect', 'reconnect', (card) => card.reconnect('exclusive', 'reset')],
    ['disconnect', 'disconnect', (card) => card.disconnect('reset')],
  ];

  it.each(cardCalls)('not while a %s is under way; 200 ms after it ended', async (_, kind, run) => {
    const context = establish();
    const card = await connectedCard(context);
    const running = run(card);
    const release = startRelease(context);
    await vi.advanceTimersByTimeAsync(1050);
    expect(fake.stops).toEqual([]);
    expect(release.isDone()).toBe(false);

    fake.call(kind).finish();
    await running;
    await expectStopAfterQuietTime();
  });

  it('counts calls through other contexts, until the last of two queued ones ended', async () => {
    const lending = establish();
    const card = await connectedCard(lending);
    const first = card.transmit(Uint8Array.of(0x00, 0xca, 0x00, 0x01));
    const second = card.transmit(Uint8Array.of(0x00, 0xca, 0x00, 0x02)); // waits for the first
    const listing = establish();
    startRelease(listing);
    await vi.advanceTimersByTimeAsync(500);
    fake.call('transmit').finish();
    await first;
    await vi.advanceTimersByTimeAsync(700); // the second one is under way now
    expect(fake.stops).toEqual([]);

    fake.call('transmit').finish();
    await second;
    await expectStopAfterQuietTime();
  });

  it('a change event of the watch starts the quiet time again', async () => {
    const context = establish();
    startRelease(context);
    await vi.advanceTimersByTimeAsync(150);
    fake.clients[0]!.reader(R)!.change(PRESENT_CHANGED);
    await expectStopAfterQuietTime();
  });
});

describe('a release never quiet still stops 3 s after it began', () => {
  it('a connect under way all along', async () => {
    const context = establish();
    void context.connect(R, 'exclusive').catch(() => undefined);
    const releasedAt = Date.now();
    const release = startRelease(context);
    await vi.advanceTimersByTimeAsync(MAX_DELAY_MS - 1);
    expect(fake.stops).toEqual([]);
    await vi.advanceTimersByTimeAsync(1);
    expect(fake.stops).toEqual([releasedAt + MAX_DELAY_MS]);
    await vi.advanceTimersByTimeAsync(0);
    expect(release.isDone()).toBe(true);
  });

  it('a change event every 100 ms', async () => {
    const context = establish();
    const reader = fake.clients[0]!.reader(R)!;
    const releasedAt = Date.now();
    startRelease(context);
    for (let t = 100; t < MAX_DELAY_MS; t += 100) {
      await vi.advanceTimersByTimeAsync(100);
      expect(fake.stops).toEqual([]);
      reader.change(PRESENT_CHANGED);
    }
    await vi.advanceTimersByTimeAsync(100);
    expect(fake.stops).toEqual([releasedAt + MAX_DELAY_MS]);
  });

  it('exactly at 3 s when its last look would land later (change events off the 200 ms grid)', async () => {
    const context = establish();
    const reader = fake.clients[0]!.reader(R)!;
    const releasedAt = Date.now();
    startRelease(context);
    await vi.advanceTimersByTimeAsync(50);
    // Changes at 50, 150, …, 2950 ms: the look after the last one would be at 3050 ms.
    for (let t = 50; t < MAX_DELAY_MS; t += 100) {
      reader.change(PRESENT_CHANGED);
      await vi.advanceTimersByTimeAsync(100);
    }
    expect(fake.stops).toEqual([releasedAt + MAX_DELAY_MS]);
  });
});

describe('a release at process end', () => {
  it('resolves at once and never stops the client', async () => {
    const context = establish();
    const release = startRelease(context, { atProcessEnd: true });
    await vi.advanceTimersByTimeAsync(0);
    expect(release.isDone()).toBe(true);
    await vi.advanceTimersByTimeAsync(10 * MAX_DELAY_MS);
    expect(fake.stops).toEqual([]);
  });

  it('cuts short a release waiting for a connect to end, without its stop()', async () => {
    const context = establish();
    const connecting = context.connect(R, 'exclusive');
    const plain = startRelease(context);
    await vi.advanceTimersByTimeAsync(500);
    expect(plain.isDone()).toBe(false);

    const atEnd = startRelease(context, { atProcessEnd: true });
    await vi.advanceTimersByTimeAsync(0);
    expect(atEnd.isDone()).toBe(true);
    expect(plain.isDone()).toBe(true);
    fake.call('connect').finish();
    await connecting;
    await vi.advanceTimersByTimeAsync(10 * MAX_DELAY_MS);
    expect(fake.stops).toEqual([]);
  });
});
