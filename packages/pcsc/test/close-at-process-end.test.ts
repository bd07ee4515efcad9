/**
 * PcscContext.close({ atProcessEnd: true }) on the fake binding, with fake timers: the close a
 * command line tool makes right before it exits. The binding's watch is left running instead
 * of stopped (pcsc-mini's stop() can block for good); everything else is as for a close.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { openReader, PcscContext } from '../src/index.ts';
import type { PcscContextEvent } from '../src/index.ts';
import { FakeBinding } from './helpers/fake-binding.ts';

const R = 'Fake Reader 00 00';

let binding: FakeBinding;

beforeEach(() => {
  vi.useFakeTimers();
  binding = new FakeBinding();
  binding.addReader(R);
  binding.insertCard(R);
});

afterEach(() => {
  vi.useRealTimers();
});

/** A context on the fake, settled, with the events it reports from now on. */
async function settledContext(): Promise<{ context: PcscContext; events: PcscContextEvent[] }> {
  const context = new PcscContext({ binding });
  const settled = context.settled();
  await vi.advanceTimersByTimeAsync(200);
  await settled;
  const events: PcscContextEvent[] = [];
  context.onEvent((e) => events.push(e));
  return { context, events };
}

/** The error `p` rejects with (fails when it resolves). */
async function rejection(p: Promise<unknown>): Promise<unknown> {
  return p.then(
    () => expect.fail('resolved'),
    (e: unknown) => e,
  );
}

describe('close({ atProcessEnd: true })', () => {
  it('never asks the binding to stop the watch; a plain close still does', async () => {
    const ending = await settledContext();
    await ending.context.close({ atProcessEnd: true });
    expect(binding.watchEnds).toEqual(['abandoned']);

    const going = await settledContext();
    await going.context.close();
    expect(binding.watchEnds).toEqual(['abandoned', 'stopped']);
  });

  it('resolves without any time passing', async () => {
    const { context } = await settledContext();
    let isClosed = false;
    void context.close({ atProcessEnd: true }).then(() => (isClosed = true));
    await vi.advanceTimersByTimeAsync(0);
    expect(isClosed).toBe(true);
  });

  it('still lets the lent card go first: the CLI closes the reader, then the context', async () => {
    const { context } = await settledContext();
    const opening = openReader(R, { context });
    await vi.advanceTimersByTimeAsync(0);
    const reader = await opening;
    await reader.powerOn();
    const resetsWhileLent = binding.reader(R)?.card?.resets ?? -1;
    expect(binding.openHandles()).toBe(1);

    await reader.close();
    await context.close({ atProcessEnd: true });
    expect(binding.openHandles()).toBe(0);
    // powerOffDisposition 'reset': the card was reset on its way out
    expect(binding.reader(R)?.card?.resets).toBe(resetsWhileLent + 1);
    expect(binding.watchEnds).toEqual(['abandoned']);
  });

  it('rejects waiters, refuses calls and reports nothing more, even when the service stops', async () => {
    const context = new PcscContext({ binding }); // not settled yet: settled() waits
    const waiting = rejection(context.settled({ waitForService: true }));
    const events: PcscContextEvent[] = [];
    context.onEvent((e) => events.push(e));
    await context.close({ atProcessEnd: true });

    expect(await waiting).toMatchObject({ code: 'CCID_CLOSED' });
    expect(await rejection(context.settled())).toMatchObject({ code: 'CCID_CLOSED' });
    expect(await rejection(context.connect(R, 'shared'))).toMatchObject({ code: 'CCID_CLOSED' });
    binding.removeCard(R);
    binding.stopService(); // the abandoned watch ends: nothing reaches the context
    await vi.advanceTimersByTimeAsync(10_000);
    expect(events).toEqual([]);
    expect(context.readers.size).toBe(0);
    expect(binding.establishCount).toBe(1); // no retry after the close
  });

  it('is idempotent, and a plain close after it changes nothing', async () => {
    const { context } = await settledContext();
    await Promise.all([
      context.close({ atProcessEnd: true }),
      context.close({ atProcessEnd: true }),
    ]);
    await context.close();
    await context.close({ atProcessEnd: true });
    expect(binding.watchEnds).toEqual(['abandoned']);
  });

  it('cuts short a plain close still waiting for its release, the watch never stopped', async () => {
    const { context } = await settledContext();
    binding.isReleaseHeld = true;
    let isPlainClosed = false;
    void context.close().then(() => (isPlainClosed = true));
    await vi.advanceTimersByTimeAsync(1000);
    expect(isPlainClosed).toBe(false);
    await context.close({ atProcessEnd: true });
    await vi.advanceTimersByTimeAsync(0);
    expect(isPlainClosed).toBe(true);
    expect(binding.watchEnds).toEqual(['abandoned']);
  });

  it('after a plain close, a watch already stopped stays stopped', async () => {
    const { context } = await settledContext();
    await context.close();
    await context.close({ atProcessEnd: true });
    expect(binding.watchEnds).toEqual(['stopped']);
  });
});

describe('a context re-established after the service came back', () => {
  it('releases the lost context with a plain stop, and can still be closed at process end', async () => {
    const { context } = await settledContext();
    binding.stopService();
    await vi.advanceTimersByTimeAsync(0);
    binding.startService();
    await vi.advanceTimersByTimeAsync(1000);
    expect(binding.establishCount).toBe(2);
    expect(binding.watchEnds).toEqual(['stopped']); // the lost one, while the process goes on

    await context.close({ atProcessEnd: true });
    expect(binding.watchEnds).toEqual(['stopped', 'abandoned']);
  });
});
