/**
 * listReaders through one context reads a card's ATR once per insertion (README "The ATR of
 * a listing"), on the fake binding with fake timers: which events make it connect again, and
 * which cards read as in use without a connect.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { listReaders, openReader, PcscContext } from '../src/index.ts';
import type { ReaderInfo } from '../src/index.ts';
import { FakeBinding } from './helpers/fake-binding.ts';

const R = 'Fake Reader 00 00';
const A = Uint8Array.of(0x3b, 0x01, 0xaa);
const B = Uint8Array.of(0x3b, 0x01, 0xbb);

let binding: FakeBinding;
let context: PcscContext;

beforeEach(() => {
  vi.useFakeTimers();
  binding = new FakeBinding();
  binding.addReader(R);
  binding.insertCard(R, A);
  context = new PcscContext({ binding });
});

afterEach(async () => {
  await context.close();
  vi.useRealTimers();
});

/** One listing through the shared context; R's entry. */
async function listR(): Promise<ReaderInfo | undefined> {
  const p = listReaders({ context });
  await vi.advanceTimersByTimeAsync(200);
  return (await p).find((i) => i.name === R);
}

/** The ATR R is listed with, as hex ('' for none). */
async function listedAtr(): Promise<string> {
  const info = await listR();
  return info?.atr === null || info?.atr === undefined ? '' : Buffer.from(info.atr).toString('hex');
}

const connects = (): number => binding.connects.length;

describe('the ATR of a listing, once per insertion', () => {
  it('a second and third listing reuse the ATR without connecting', async () => {
    expect(await listedAtr()).toBe('3b01aa');
    expect(await listedAtr()).toBe('3b01aa');
    expect(await listedAtr()).toBe('3b01aa');
    expect(binding.connects).toEqual(['shared']);
    expect(binding.openHandles()).toBe(0);
  });

  const afterEvents: [string, () => void, string, number][] = [
    [
      'a card swapped between two listings (pulled, another inserted): read anew',
      () => {
        binding.removeCard(R);
        binding.insertCard(R, B); // the card present before and after the two events
      },
      '3b01bb',
      2,
    ],
    [
      'a swap reported as one change (present before and after, the counter 2 higher): read anew',
      () => binding.swapCard(R, B),
      '3b01bb',
      2,
    ],
    [
      'the same card pulled and put back (another insertion): read anew',
      () => {
        binding.removeCard(R);
        binding.insertCard(R, A);
      },
      '3b01aa',
      2,
    ],
    [
      'an event with the same counter (another program let go): kept',
      () => binding.touch(R),
      '3b01aa',
      1,
    ],
  ];

  it.each(afterEvents)('%s', async (_what, act, atr, wantConnects) => {
    expect(await listedAtr()).toBe('3b01aa');
    act();
    expect(await listedAtr()).toBe(atr); // never the old card's ATR for a new one
    expect(await listedAtr()).toBe(atr);
    expect(connects()).toBe(wantConnects);
  });

  it('a swap the watch received but had not handed on yet is applied before the listing', async () => {
    expect(await listedAtr()).toBe('3b01aa');
    binding.isWatchLagging = true;
    binding.swapCard(R, B);
    await vi.advanceTimersByTimeAsync(200);
    expect(context.readers.get(R)?.events).toBe(1); // not reported on its own
    expect(await listedAtr()).toBe('3b01bb'); // the listing's flushEvents() brought it
    expect(context.readers.get(R)?.events).toBe(3);
    expect(connects()).toBe(2);
  });

  it('a card pulled is listed absent, without an ATR', async () => {
    expect(await listedAtr()).toBe('3b01aa');
    binding.removeCard(R);
    const info = await listR();
    expect(info?.card).toBe('absent');
    expect(info?.atr).toBeNull();
  });

  it('a binding without the counter: any event of the reader means reading again', async () => {
    binding.reportsEvents = false;
    expect(await listedAtr()).toBe('3b01aa');
    binding.touch(R);
    expect(await listedAtr()).toBe('3b01aa');
    expect(connects()).toBe(2);
  });

  it('a reader unplugged and plugged in again: read anew', async () => {
    expect(await listedAtr()).toBe('3b01aa');
    binding.removeReader(R);
    expect(await listR()).toBeUndefined();
    binding.addReader(R);
    binding.insertCard(R, B);
    expect(await listedAtr()).toBe('3b01bb');
    expect(connects()).toBe(2);
  });

  it('the PC/SC service lost and back (a new context): read anew', async () => {
    expect(await listedAtr()).toBe('3b01aa');
    binding.stopService();
    await vi.advanceTimersByTimeAsync(10);
    binding.startService();
    await vi.advanceTimersByTimeAsync(3000); // re-established (backoff) and settled
    expect(binding.establishCount).toBe(2);
    expect(await listedAtr()).toBe('3b01aa');
    expect(binding.connects.filter((s) => s === 'shared')).toHaveLength(2);
  });

  it('a listing during another listing\'s ATR read shares that read (not "in use")', async () => {
    const release = binding.holdCardCalls();
    const first = listR();
    await vi.advanceTimersByTimeAsync(200); // connected, SCardStatus waits: the reader is busy
    const second = listR();
    await vi.advanceTimersByTimeAsync(200);
    release();
    for (const info of [await first, await second]) {
      expect(info?.atrError).toBeUndefined();
      expect(Buffer.from(info?.atr ?? []).toString('hex')).toBe('3b01aa');
    }
    expect(binding.connects).toEqual(['shared']);
  });

  it('a read overlapped by an event of its reader is reported but not kept', async () => {
    const release = binding.holdCardCalls();
    const listing = listR();
    await vi.advanceTimersByTimeAsync(200); // connected, SCardStatus waits
    binding.touch(R);
    await vi.advanceTimersByTimeAsync(0);
    release();
    expect(Buffer.from((await listing)?.atr ?? []).toString('hex')).toBe('3b01aa');
    expect(await listedAtr()).toBe('3b01aa');
    expect(connects()).toBe(2);
  });

  it('a failed read is not kept: the next listing connects again', async () => {
    const other = new PcscContext({ binding });
    const held = openReader(R, { context: other });
    await vi.advanceTimersByTimeAsync(200);
    const reader = await held;
    await reader.powerOn(); // another "program" (context) holds the card exclusively
    const info = await listR();
    expect(info?.atr).toBeNull();
    expect(info?.atrError?.sourceCode).toBe('SCARD_E_SHARING_VIOLATION');
    await reader.close();
    await vi.advanceTimersByTimeAsync(200);
    expect(await listedAtr()).toBe('3b01aa');
    expect(binding.connects).toEqual(['exclusive', 'shared', 'shared']);
    await other.close();
  });
});

describe('cards this process holds', () => {
  it('a card powered through the same context reads as in use without a connect, its ATR again after power-off', async () => {
    expect(await listedAtr()).toBe('3b01aa');
    const opening = openReader(R, { context });
    await vi.advanceTimersByTimeAsync(0);
    const reader = await opening;
    await reader.powerOn();
    const info = await listR();
    expect(info?.atr).toBeNull();
    expect(info?.atrError?.code).toBe('CCID_DEVICE_BUSY');
    expect(info?.atrError?.sourceCode).toBe('SCARD_E_SHARING_VIOLATION');
    expect(binding.connects).toEqual(['shared', 'exclusive']);
    await reader.powerOff(); // a reset by this process: the same insertion, no reader event
    expect(await listedAtr()).toBe('3b01aa');
    expect(binding.connects).toEqual(['shared', 'exclusive']);
    await reader.close();
  });

  it('a card this process holds in shared mode is listed with its ATR', async () => {
    const opening = openReader(R, { context, share: 'shared' });
    await vi.advanceTimersByTimeAsync(200);
    const reader = await opening;
    await reader.powerOn();
    expect(await listedAtr()).toBe('3b01aa');
    await reader.close();
  });
});
