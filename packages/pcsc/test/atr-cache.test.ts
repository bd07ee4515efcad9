/**
 * AtrCache's rules (src/atr-cache.ts), pure: when a cached ATR still belongs to the card now
 * in the reader, and when a read is kept.
 */
import { describe, expect, it } from 'vitest';
import { AtrCache } from '../src/atr-cache.ts';
import { SCARD_STATE } from '../src/index.ts';
import type { RawReaderState } from '../src/index.ts';

const R = 'Reader 00';
const A = Uint8Array.of(0x3b, 0x01, 0xaa);
const PRESENT = SCARD_STATE.PRESENT | SCARD_STATE.CHANGED;

function state(events: number | undefined, bits = PRESENT, name = R): RawReaderState {
  const atr = new Uint8Array(0);
  return events === undefined ? { name, state: bits, atr } : { name, state: bits, atr, events };
}

/** A cache with A read for `R` at counter `events`. */
function filled(events: number | undefined): AtrCache {
  const cache = new AtrCache();
  cache.onReaderState(state(events));
  expect(cache.fill(cache.begin(state(events)), A)).toBe(true);
  return cache;
}

describe('AtrCache', () => {
  it('keeps a read ATR and hands out copies', () => {
    const cache = filled(3);
    const got = cache.get(R);
    expect(got).toEqual(A);
    got?.fill(0);
    expect(cache.get(R)).toEqual(A);
    expect(cache.get('Other')).toBeNull();
  });

  it('keeps it across an event with the same counter and the card present (another program let go)', () => {
    const cache = filled(3);
    cache.onReaderState(state(3, PRESENT | SCARD_STATE.INUSE));
    cache.onReaderState(state(3));
    expect(cache.get(R)).toEqual(A);
  });

  it('drops it when the counter changed, even with the card present in both states (remove + insert)', () => {
    const cache = filled(3);
    cache.onReaderState(state(5));
    expect(cache.get(R)).toBeNull();
  });

  it('drops it when the card is gone, mute, or the reader state says so with the same counter', () => {
    for (const bits of [
      SCARD_STATE.EMPTY,
      PRESENT | SCARD_STATE.MUTE,
      SCARD_STATE.UNAVAILABLE | SCARD_STATE.PRESENT,
    ]) {
      const cache = filled(3);
      cache.onReaderState(state(3, bits));
      expect(cache.get(R)).toBeNull();
    }
  });

  it('without a counter (or with 0, which pcsc-lite does not compare) any event drops it', () => {
    for (const events of [undefined, 0]) {
      const cache = filled(events);
      cache.onReaderState(state(events));
      expect(cache.get(R)).toBeNull();
    }
  });

  it('an event of another reader keeps it', () => {
    const cache = filled(undefined);
    cache.onReaderState(state(undefined, SCARD_STATE.EMPTY, 'Other'));
    expect(cache.get(R)).toEqual(A);
  });

  it('forget (reader gone) and clear (context lost) drop it', () => {
    const forgotten = filled(3);
    forgotten.forget(R);
    expect(forgotten.get(R)).toBeNull();
    const cleared = filled(3);
    cleared.clear();
    expect(cleared.get(R)).toBeNull();
  });

  it('does not keep a read overlapped by an event of its reader, a forget or a clear', () => {
    const overlaps: ((c: AtrCache) => void)[] = [
      (c) => c.onReaderState(state(3)), // even one that would keep an entry
      (c) => c.forget(R),
      (c) => c.clear(),
    ];
    for (const overlap of overlaps) {
      const cache = new AtrCache();
      const token = cache.begin(state(3));
      overlap(cache);
      expect(cache.fill(token, A)).toBe(false);
      expect(cache.get(R)).toBeNull();
    }
  });

  it("keeps a read overlapped only by another reader's event, under the counter it began with", () => {
    const cache = new AtrCache();
    const token = cache.begin(state(3));
    cache.onReaderState(state(7, PRESENT, 'Other'));
    expect(cache.fill(token, A)).toBe(true);
    cache.onReaderState(state(4)); // the card read at counter 3 is gone
    expect(cache.get(R)).toBeNull();
  });
});
