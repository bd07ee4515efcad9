/**
 * AtrCache: the ATR of the card now in each reader, read once per card insertion (README
 * "The ATR of a listing"). A listing's shared connect to read the ATR makes another program's
 * exclusive connect fail while it lasts; with this cache a listing connects only for a card
 * whose ATR it has not read yet.
 *
 * "The same insertion" rests on pcsc-lite's event counter (upper 16 bits of dwEventState,
 * `RawReaderState.events`): it changes on every insertion and removal, and pcsc-lite wakes
 * a watcher whose counter differs, so even a remove + insert between two listings reaches the
 * context as a reader event with another counter. The rules:
 * - an entry is kept across a reader event only when the card is still there (present, not
 *   mute) and both counters are known, not 0 and equal; any other event drops it (a binding
 *   without a counter: every event);
 * - a reader gone, the context lost or closed: dropped;
 * - an ATR read is kept only if no event of that reader (and no loss) came between the start
 *   of its read ({@link begin}) and its end ({@link fill}).
 * Pure: no I/O, no time.
 */
import { isCardPresentState, SCARD_STATE } from './binding.ts';
import type { RawReaderState } from './binding.ts';

/** An ATR read in progress ({@link AtrCache.begin}). */
export interface AtrReadToken {
  readonly reader: string;
  readonly seq: number;
  readonly clears: number;
  readonly events: number | undefined;
}

interface Entry {
  readonly events: number | undefined;
  readonly atr: Uint8Array;
}

/** See the module comment. */
export class AtrCache {
  readonly #entries = new Map<string, Entry>();
  /** By reader: how many events (or forgets) it had; a read started before one is not kept. */
  readonly #seq = new Map<string, number>();
  #clears = 0;

  /** A reader state was reported (by the watch). */
  onReaderState(next: RawReaderState): void {
    this.#bump(next.name);
    const entry = this.#entries.get(next.name);
    if (entry !== undefined && !isSameInsertion(entry.events, next)) {
      this.#entries.delete(next.name);
    }
  }

  /** The reader is gone: forget its card. */
  forget(reader: string): void {
    this.#bump(reader);
    this.#entries.delete(reader);
  }

  /** The context was lost or closed: forget every card. */
  clear(): void {
    this.#clears++;
    this.#entries.clear();
  }

  /** The cached ATR of the card now in `reader` (a copy), or null. */
  get(reader: string): Uint8Array | null {
    const entry = this.#entries.get(reader);
    return entry === undefined ? null : Uint8Array.from(entry.atr);
  }

  /** Call before connecting to read the ATR; `state` is the reader's state now. */
  begin(state: RawReaderState): AtrReadToken {
    return {
      reader: state.name,
      seq: this.#seq.get(state.name) ?? 0,
      clears: this.#clears,
      events: state.events,
    };
  }

  /** The ATR read begun with `token`; kept unless an event came since. True when kept. */
  fill(token: AtrReadToken, atr: Uint8Array): boolean {
    const isCurrent =
      token.clears === this.#clears && token.seq === (this.#seq.get(token.reader) ?? 0);
    if (!isCurrent) return false;
    this.#entries.set(token.reader, { events: token.events, atr: Uint8Array.from(atr) });
    return true;
  }

  #bump(reader: string): void {
    this.#seq.set(reader, (this.#seq.get(reader) ?? 0) + 1);
  }
}

/** True when `next` is provably the insertion whose counter was `cached`. */
function isSameInsertion(cached: number | undefined, next: RawReaderState): boolean {
  if (!isCardPresentState(next.state) || (next.state & SCARD_STATE.MUTE) !== 0) return false;
  // pcsc-lite compares a watcher's counter only when it is not 0: no proof then.
  return cached !== undefined && cached !== 0 && next.events === cached;
}
