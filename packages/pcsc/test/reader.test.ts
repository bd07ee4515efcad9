/**
 * PcscReader, PcscContext and listReaders on the fake binding, with fake timers.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { BridgeReader } from '@cardlend/bridge';
import { bridgeErrorFromReader } from '@cardlend/bridge';
import type { ReaderEvent } from '@cardlend/ccid';
import { isPcscError, listReaders, openReader, PcscContext } from '../src/index.ts';
import type { PcscError, PcscReader, PcscReaderOptions } from '../src/index.ts';
import { FakeBinding } from './helpers/fake-binding.ts';

const R = 'Fake Reader 00 00';
const SELECT = Uint8Array.of(0x00, 0xa4, 0x04, 0x00, 0x02, 0xa0, 0x00, 0x00);

let binding: FakeBinding;

beforeEach(() => {
  vi.useFakeTimers();
  binding = new FakeBinding();
  binding.addReader(R);
});

afterEach(() => {
  vi.useRealTimers();
});

async function open(
  opts: PcscReaderOptions & { context?: PcscContext } = {},
): Promise<{ reader: PcscReader; events: ReaderEvent[] }> {
  const p = openReader(R, { binding, ...opts });
  await vi.advanceTimersByTimeAsync(200);
  const reader = await p;
  const events: ReaderEvent[] = [];
  reader.onEvent((e) => events.push(e));
  return { reader, events };
}

/** A card inserted in R, the reader opened with `opts`, the card powered on. */
async function openPowered(
  opts: PcscReaderOptions = {},
): Promise<{ reader: PcscReader; events: ReaderEvent[] }> {
  binding.insertCard(R);
  const opened = await open(opts);
  await opened.reader.powerOn();
  return opened;
}

/** A card inserted in R, the reader opened on a context the test also lists through. */
async function openOnSharedContext(): Promise<{ context: PcscContext; reader: PcscReader }> {
  binding.insertCard(R);
  const context = new PcscContext({ binding });
  const { reader } = await open({ context });
  return { context, reader };
}

/** Settles `p` while advancing fake time; the PcscError it rejects with, or null. */
async function failure(p: Promise<unknown>, advanceMs = 10_000): Promise<PcscError | null> {
  const settled = p.then(
    () => null,
    (e: unknown) => e,
  );
  await vi.advanceTimersByTimeAsync(advanceMs);
  const e = await settled;
  if (e === null) return null;
  if (!isPcscError(e)) throw new Error(`not a PcscError: ${String(e)}`);
  return e;
}

describe('listReaders', () => {
  it('lists readers by name with card state and the ATR from SCardStatus', async () => {
    binding.addReader('Another Reader');
    binding.insertCard(R, Uint8Array.of(0x3b, 0x81, 0x80, 0x01, 0x80, 0x80));
    const p = listReaders({ binding });
    await vi.advanceTimersByTimeAsync(200);
    const infos = await p;
    expect(infos.map((i) => [i.name, i.card, i.atr === null ? null : [...i.atr]])).toEqual([
      ['Another Reader', 'absent', null],
      [R, 'present', [0x3b, 0x81, 0x80, 0x01, 0x80, 0x80]],
    ]);
    expect(binding.openHandles()).toBe(0);
  });

  it('reports the ATR as unreadable while another program holds the card exclusively', async () => {
    await openPowered(); // held exclusively by this reader
    const p = listReaders({ binding });
    await vi.advanceTimersByTimeAsync(200);
    const [info] = await p;
    expect(info?.card).toBe('present');
    expect(info?.atr).toBeNull();
    expect(info?.atrError?.sourceCode).toBe('SCARD_E_SHARING_VIOLATION');
  });

  it('a listing and a power-on through one context take turns: the power-on waits for the ATR read', async () => {
    const { context, reader } = await openOnSharedContext();
    const release = binding.holdCardCalls();
    const listing = listReaders({ context });
    await vi.advanceTimersByTimeAsync(10); // the listing holds its shared handle, reading the ATR
    expect(binding.connects).toEqual(['shared']);
    const powered = reader.powerOn(); // pcscd would refuse an exclusive connect now
    await vi.advanceTimersByTimeAsync(10);
    expect(binding.connects).toEqual(['shared']);
    release();
    await vi.advanceTimersByTimeAsync(10);
    expect((await listing)[0]?.atr).not.toBeNull();
    expect((await powered).protocol).toBe(1);
    expect(binding.connects).toEqual(['shared', 'exclusive']);
    expect(binding.openHandles()).toBe(1);
  });

  it('a listing during a power-on of this context does not connect: the card reads as in use', async () => {
    const { context, reader } = await openOnSharedContext();
    const release = binding.holdCardCalls();
    const powered = reader.powerOn();
    await vi.advanceTimersByTimeAsync(10); // connected exclusively, resetting
    const listing = listReaders({ context });
    await vi.advanceTimersByTimeAsync(10);
    const [info] = await listing;
    expect(info?.atr).toBeNull();
    expect(info?.atrError?.code).toBe('CCID_DEVICE_BUSY');
    expect(binding.connects).toEqual(['exclusive']);
    release();
    await vi.advanceTimersByTimeAsync(10);
    expect((await powered).protocol).toBe(1);
  });

  it('a listing while a power-on of this context is still connecting answers at once: the card reads as in use', async () => {
    const { context, reader } = await openOnSharedContext();
    const release = binding.holdCardCalls({ connects: true });
    const powered = reader.powerOn();
    await vi.advanceTimersByTimeAsync(10); // SCardConnect EXCLUSIVE not answered yet
    let listed: Awaited<ReturnType<typeof listReaders>> | null = null;
    void listReaders({ context }).then((infos) => (listed = infos));
    await vi.advanceTimersByTimeAsync(10);
    expect(listed).not.toBeNull(); // it did not wait for the power-on's turn
    expect(listed![0]?.atrError?.code).toBe('CCID_DEVICE_BUSY');
    expect(binding.connects).toEqual(['exclusive']);
    release();
    await vi.advanceTimersByTimeAsync(10);
    expect((await powered).protocol).toBe(1);
  });

  it('waits a grace period for a first reader that reports late, and answers [] when none comes', async () => {
    const late = new FakeBinding();
    const p = listReaders({ binding: late });
    await vi.advanceTimersByTimeAsync(300); // past the quiet time, within the grace
    late.addReader('Late Reader');
    await vi.advanceTimersByTimeAsync(1200);
    expect((await p).map((i) => i.name)).toEqual(['Late Reader']);
    const none = listReaders({ binding: new FakeBinding() });
    await vi.advanceTimersByTimeAsync(1200);
    expect(await none).toEqual([]);
  });

  it('fails with SCARD_E_NO_SERVICE when no PC/SC service runs', async () => {
    binding.stopService();
    const e = await failure(listReaders({ binding }));
    expect(e?.sourceCode).toBe('SCARD_E_NO_SERVICE');
    expect(e?.code).toBe('CCID_TRANSFER_FAILED');
  });
});

describe('openReader', () => {
  it('refuses an unknown name with SCARD_E_UNKNOWN_READER (CCID_READER_GONE), naming the readers', async () => {
    const p = openReader('Nope', { binding });
    const e = await failure(p);
    expect(e?.sourceCode).toBe('SCARD_E_UNKNOWN_READER');
    expect(e?.code).toBe('CCID_READER_GONE');
    expect(e?.message).toContain(R);
  });

  it('is a BridgeReader', async () => {
    const { reader } = await open();
    const bridgeReader: BridgeReader = reader;
    expect(bridgeReader.info?.productName).toBe(R);
  });
});

describe('PcscReader', () => {
  it('powers on exclusively with a reset, transmits, powers off with a reset', async () => {
    binding.insertCard(R, Uint8Array.of(0x3b, 0x02, 0x14, 0x50), 1);
    const { reader } = await open();
    expect(await reader.getSlotStatus()).toBe('inactive');
    const card = await reader.powerOn();
    expect([...card.atr]).toEqual([0x3b, 0x02, 0x14, 0x50]);
    expect(card.protocol).toBe(1);
    expect(binding.reader(R)?.card?.resets).toBe(1); // reset at power on
    expect(await reader.getSlotStatus()).toBe('active');
    expect([...(await reader.transmit(SELECT))]).toEqual([0xa0, 0x00, 0x00, 0x90, 0x00]);
    const other = new PcscContext({ binding });
    await expect(other.connect(R, 'shared')).rejects.toMatchObject({
      sourceCode: 'SCARD_E_SHARING_VIOLATION',
      code: 'CCID_DEVICE_BUSY',
    });
    await reader.powerOff();
    expect(binding.reader(R)?.card?.resets).toBe(2); // reset when let go
    expect(binding.openHandles()).toBe(0);
    const e = await failure(reader.transmit(SELECT));
    expect(e?.code).toBe('CCID_NOT_POWERED');
    await other.close();
  });

  it('a card reset by another program: the command fails CCID_NOT_POWERED, then card-removed + card-inserted', async () => {
    const { reader, events } = await openPowered();
    binding.resetCard(R);
    const e = await failure(reader.transmit(SELECT));
    expect(e?.sourceCode).toBe('SCARD_W_RESET_CARD');
    expect(e?.code).toBe('CCID_NOT_POWERED');
    expect(bridgeErrorFromReader(e).code).toBe('BRIDGE_CARD_RESET');
    expect(events.map((x) => x.type)).toEqual(['card-removed', 'card-inserted']);
    await reader.powerOn();
    expect((await reader.transmit(SELECT)).length).toBe(5);
  });

  it('a card pulled: card-removed; the command fails CCID_CARD_ABSENT; a new card works', async () => {
    const { reader, events } = await openPowered();
    binding.removeCard(R);
    const e = await failure(reader.transmit(SELECT));
    expect(['CCID_CARD_ABSENT', 'CCID_NOT_POWERED']).toContain(e?.code);
    expect(await reader.getSlotStatus()).toBe('absent');
    binding.insertCard(R);
    await vi.advanceTimersByTimeAsync(10);
    expect(events.map((x) => x.type)).toEqual(['card-removed', 'card-inserted']);
    await reader.powerOn();
    expect((await reader.transmit(SELECT)).length).toBe(5);
  });

  it('an empty answer from a card still present is CCID_CARD_MUTE, from a pulled card CCID_CARD_ABSENT', async () => {
    const { reader } = await openPowered();
    binding.answerer = () => new Uint8Array(0);
    const mute = await failure(reader.transmit(SELECT));
    expect(mute?.sourceCode).toBe('SCARD_W_UNRESPONSIVE_CARD');
    expect(mute?.code).toBe('CCID_CARD_MUTE');
    await reader.powerOn();
    binding.answerer = () => {
      binding.removeCard(R);
      return new Uint8Array(0);
    };
    const gone = await failure(reader.transmit(SELECT));
    expect(gone?.code).toBe('CCID_CARD_ABSENT');
  });

  it('the service lost and back (pcscd restarted): card-removed, context re-established, card-inserted', async () => {
    const { reader, events } = await openPowered({ serviceWaitMs: 5000 });
    binding.stopService();
    await vi.advanceTimersByTimeAsync(10);
    expect(events.map((x) => x.type)).toEqual(['card-removed']);
    expect(await reader.getSlotStatus()).toBe('absent');
    binding.startService();
    await vi.advanceTimersByTimeAsync(3000);
    expect(binding.establishCount).toBe(2);
    expect(events.map((x) => x.type)).toEqual(['card-removed', 'card-inserted']);
    await reader.powerOn();
    expect((await reader.transmit(SELECT)).length).toBe(5);
  });

  it('a command during a service restart waits for it and tells a reader gone from one that is back', async () => {
    const { reader, events } = await openPowered({ serviceWaitMs: 5000 });
    binding.answerer = () => {
      binding.stopService();
      binding.removeReader(R);
      return new Uint8Array(0);
    };
    const p = reader.transmit(SELECT);
    await vi.advanceTimersByTimeAsync(100);
    binding.startService(); // back, but without the reader
    const e = await failure(p);
    expect(e?.code).toBe('CCID_READER_GONE');
    expect(events.filter((x) => x.type === 'reader-gone')).toHaveLength(1);
    expect((await failure(reader.powerOn()))?.code).toBe('CCID_READER_GONE');
    expect((await failure(reader.getSlotStatus()))?.code).toBe('CCID_READER_GONE');
  });

  it('a reader unplugged while idle: one reader-gone, every call fails CCID_READER_GONE', async () => {
    const { reader, events } = await openPowered();
    binding.removeReader(R);
    await vi.advanceTimersByTimeAsync(10);
    expect(events.map((x) => x.type)).toEqual(['reader-gone']);
    const calls = [
      reader.getSlotStatus(),
      reader.powerOn(),
      reader.transmit(SELECT),
      reader.powerOff(),
    ];
    const codes = await Promise.all(calls.map((c) => failure(c, 0)));
    expect(codes.map((e) => e?.code)).toEqual(Array(4).fill('CCID_READER_GONE'));
  });

  it('an answer that never comes: CCID_TIMEOUT after answerTimeoutMs, and the card is announced again', async () => {
    const { reader, events } = await openPowered({ answerTimeoutMs: 1000 });
    binding.answerer = () => new Promise<Uint8Array>(() => undefined);
    const e = await failure(reader.transmit(SELECT), 1500);
    expect(e?.sourceCode).toBe('SCARD_E_TIMEOUT');
    expect(e?.code).toBe('CCID_TIMEOUT');
    expect(events.map((x) => x.type)).toEqual(['card-removed', 'card-inserted']);
    expect((await failure(reader.transmit(SELECT)))?.code).toBe('CCID_NOT_POWERED');
    // The stuck handle still holds the card: power on fails typed instead of waiting for it.
    expect((await failure(reader.powerOn()))?.sourceCode).toBe('SCARD_E_SHARING_VIOLATION');
  });

  it('refuses slots other than 0 and calls after close (CCID_CLOSED)', async () => {
    binding.insertCard(R);
    const { reader } = await open();
    await expect(reader.powerOn(1)).rejects.toBeInstanceOf(RangeError);
    await reader.powerOn();
    await reader.close();
    expect(binding.openHandles()).toBe(0);
    expect((await failure(reader.transmit(SELECT)))?.code).toBe('CCID_CLOSED');
  });

  it('keeps the PC/SC code as the bridge error source', async () => {
    const { reader } = await openPowered();
    binding.nextFailures.push('SCARD_E_SHARING_VIOLATION');
    const e = await failure(reader.transmit(SELECT));
    const bridgeError = bridgeErrorFromReader(e);
    expect(bridgeError.code).toBe('BRIDGE_READER_BUSY');
    expect(bridgeError.source).toEqual({ kind: 'pcsc', code: 'SCARD_E_SHARING_VIOLATION' });
  });
});
