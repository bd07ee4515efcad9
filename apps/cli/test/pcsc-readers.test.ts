/**
 * The CLI's PC/SC reader service (pcsc-readers.ts) on @cardlend/pcsc's fake binding, with
 * fake timers: its close(), each command's last step before process.exit, closes the context
 * at process end (the binding's watch is left running, never stopped: pcsc-mini's stop() can
 * block for good), after the lent card was let go as before.
 */
import { afterEach, beforeEach, expect, it, vi } from 'vitest';
import { FakeBinding } from '../../../packages/pcsc/test/helpers/fake-binding.ts';
import { openPcscReaders } from '../src/pcsc-readers.ts';
import type { PcscReadersOptions } from '../src/pcsc-readers.ts';
import type { ReaderService } from '../src/ports.ts';

const R = 'Fake Reader 00 00';

beforeEach(() => vi.useFakeTimers());
afterEach(() => vi.useRealTimers());

/** The service on a fake with a card in R, its first reader list complete. */
async function open(
  opts: PcscReadersOptions = {},
): Promise<{ service: ReaderService; binding: FakeBinding }> {
  const binding = new FakeBinding();
  binding.addReader(R);
  binding.insertCard(R);
  const opening = openPcscReaders({ binding, ...opts });
  await vi.advanceTimersByTimeAsync(200);
  return { service: await opening, binding };
}

it('close() leaves the watch running instead of stopping it, and resolves at once', async () => {
  const { service, binding } = await open();
  expect(await service.list()).toEqual([expect.objectContaining({ name: R, state: 'present' })]);
  let isClosed = false;
  void service.close().then(() => (isClosed = true));
  await vi.advanceTimersByTimeAsync(0);
  expect(isClosed).toBe(true);
  expect(binding.watchEnds).toEqual(['abandoned']);
});

it('as `cardlend lend` ends: the lent card is reset on its way out, then the context closed at process end', async () => {
  const { service, binding } = await open();
  const lent = await service.open(R);
  await lent.powerOn();
  const resetsWhileLent = binding.reader(R)?.card?.resets ?? -1;
  await lent.close();
  await service.close();
  expect(binding.openHandles()).toBe(0);
  expect(binding.reader(R)?.card?.resets).toBe(resetsWhileLent + 1);
  expect(binding.watchEnds).toEqual(['abandoned']);
});

it('a context lost with the service is stopped while the command goes on; the last one is left running', async () => {
  const { service, binding } = await open();
  const events: string[] = [];
  service.onServiceEvent((e) => events.push(e.type));
  binding.stopService();
  await vi.advanceTimersByTimeAsync(0);
  binding.startService();
  await vi.advanceTimersByTimeAsync(1000);
  expect(events).toEqual(['service-down', 'service-back']);
  expect(binding.watchEnds).toEqual(['stopped']);
  await service.close();
  expect(binding.watchEnds).toEqual(['stopped', 'abandoned']);
});

it('closesAtProcessEnd: false (a process that goes on) stops the watch as usual', async () => {
  const { service, binding } = await open({ closesAtProcessEnd: false });
  await service.close();
  expect(binding.watchEnds).toEqual(['stopped']);
});
