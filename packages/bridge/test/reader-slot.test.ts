/**
 * ReaderSlot: one reader call at a time in request order, each result reported once the call
 * and every earlier one have settled; a failing call or a throwing report does not stop the
 * queue.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { ReaderSlot } from '../src/adapters/reader-slot.ts';
import type { BridgeReader } from '../src/reader.ts';
import type { ReaderResult } from '../src/lending/types.ts';

interface Pending {
  apdu: number;
  resolve: (v: Uint8Array) => void;
  reject: (e: unknown) => void;
}

/** A reader whose transmits stay pending until the test settles them. */
function heldReader(): { reader: BridgeReader; pending: Pending[]; started: number[] } {
  const pending: Pending[] = [];
  const started: number[] = [];
  const reader = {
    getSlotStatus: () => Promise.reject(new Error('not used')),
    powerOn: () => Promise.reject(new Error('not used')),
    powerOff: () => Promise.resolve(),
    transmit: (apdu: Uint8Array) => {
      started.push(apdu[0]!);
      if (apdu[0] === 0xee) throw new Error('thrown at once');
      return new Promise<Uint8Array>((resolve, reject) =>
        pending.push({ apdu: apdu[0]!, resolve, reject }),
      );
    },
    onEvent: () => () => undefined,
  } as unknown as BridgeReader;
  return { reader, pending, started };
}

const flush = async (): Promise<void> => {
  for (let i = 0; i < 20; i++) await Promise.resolve();
};

const transmit = (id: number, first: number) =>
  ({ id, kind: 'transmit', apdu: Uint8Array.of(first) }) as const;

afterEach(() => {
  vi.restoreAllMocks();
});

describe('ReaderSlot', () => {
  it("passes each transmit the slot's number in one frozen options object", async () => {
    const seen: unknown[] = [];
    const reader = {
      transmit: (_apdu: Uint8Array, opts?: { slot?: number }) => {
        seen.push(opts);
        return Promise.resolve(Uint8Array.of(0x90, 0x00));
      },
      onEvent: () => () => undefined,
    } as unknown as BridgeReader;
    const slot = new ReaderSlot(reader, 2);
    slot.run(transmit(1, 0x01), () => undefined);
    slot.run(transmit(2, 0x02), () => undefined);
    await flush();
    expect(seen).toEqual([{ slot: 2 }, { slot: 2 }]);
    expect(seen[0]).toBe(seen[1]);
    expect(Object.isFrozen(seen[0])).toBe(true);
  });

  it('starts each call only after the earlier one settled, and reports them in order', async () => {
    const { reader, pending, started } = heldReader();
    const slot = new ReaderSlot(reader, 0);
    const done: [number, ReaderResult][] = [];
    const report = (id: number, r: ReaderResult): void => {
      done.push([id, r]);
    };
    slot.run(transmit(1, 0x01), report);
    slot.run(transmit(2, 0x02), report);
    slot.run(transmit(3, 0x03), report);
    await flush();
    expect(started).toEqual([0x01]);
    pending[0]!.resolve(Uint8Array.of(0x90, 0x00));
    await flush();
    expect(done.map(([id]) => id)).toEqual([1]);
    expect(started).toEqual([0x01, 0x02]);
    pending[1]!.reject(new Error('card gone'));
    await flush();
    expect(started).toEqual([0x01, 0x02, 0x03]);
    pending[2]!.resolve(Uint8Array.of(0x6a, 0x82));
    await flush();
    expect(done.map(([id]) => id)).toEqual([1, 2, 3]);
    expect(done[0]![1]).toEqual({ ok: true, value: Uint8Array.of(0x90, 0x00) });
    expect(done[1]![1]).toMatchObject({ ok: false, error: new Error('card gone') });
    expect(done[2]![1]).toEqual({ ok: true, value: Uint8Array.of(0x6a, 0x82) });
  });

  it('reports a reader call that throws at once as a failed result and goes on', async () => {
    const { reader, pending } = heldReader();
    const slot = new ReaderSlot(reader, 0);
    const done: [number, ReaderResult][] = [];
    slot.run(transmit(1, 0xee), (id, r) => done.push([id, r]));
    slot.run(transmit(2, 0x02), (id, r) => done.push([id, r]));
    await flush();
    expect(done).toHaveLength(1);
    expect(done[0]).toMatchObject([1, { ok: false, error: new Error('thrown at once') }]);
    pending[0]!.resolve(Uint8Array.of(0x90, 0x00));
    await flush();
    expect(done.map(([id, r]) => [id, r.ok])).toEqual([
      [1, false],
      [2, true],
    ]);
  });

  it('goes on after a report that throws, which surfaces as an unhandled rejection', async () => {
    const { reader, pending } = heldReader();
    const slot = new ReaderSlot(reader, 0);
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown): void => {
      unhandled.push(reason);
    };
    process.on('unhandledRejection', onUnhandled);
    try {
      const done: number[] = [];
      slot.run(transmit(1, 0x01), () => {
        throw new Error('listener broke');
      });
      slot.run(transmit(2, 0x02), (id) => done.push(id));
      await flush();
      pending[0]!.resolve(Uint8Array.of(0x90, 0x00));
      await flush();
      pending[1]!.resolve(Uint8Array.of(0x90, 0x00));
      await flush();
      await new Promise((r) => setTimeout(r, 0));
      expect(done).toEqual([2]);
      expect(unhandled).toEqual([new Error('listener broke')]);
    } finally {
      process.off('unhandledRejection', onUnhandled);
    }
  });
});
