/**
 * The entry points: list the readers PC/SC knows (with card state and ATR), open one as a
 * bridge reader.
 */
import { SCARD_STATE } from './binding.ts';
import type { RawReaderState } from './binding.ts';
import { PcscContext } from './context.ts';
import type { PcscContextOptions } from './context.ts';
import { isPcscError, PcscError } from './errors.ts';
import { PcscReader } from './pcsc-reader.ts';
import type { PcscReaderOptions } from './pcsc-reader.ts';

/** A card's state in a reader, as listed. */
export type CardPresence = 'absent' | 'present' | 'mute';

/** One reader as {@link listReaders} reports it. */
export interface ReaderInfo {
  /** The PC/SC reader name (pass it to openReader). */
  readonly name: string;
  readonly card: CardPresence;
  /** The card's ATR; null when there is no card or it could not be read (see `atrError`). */
  readonly atr: Uint8Array | null;
  /** Another program holds the card exclusively (SCARD_STATE_EXCLUSIVE). */
  readonly isExclusive: boolean;
  /** Some program has the card open (SCARD_STATE_INUSE). */
  readonly isInUse: boolean;
  /** Why the ATR is missing while a card is present (e.g. `SCARD_E_SHARING_VIOLATION`). */
  readonly atrError?: PcscError;
  /** The raw SCARD_STATE_* bits. */
  readonly state: number;
}

/** Options of {@link listReaders} and {@link openReader}. */
export interface OpenOptions extends PcscContextOptions {
  /** Use this context instead of opening one (it is then not closed). */
  context?: PcscContext;
}

/**
 * Lists the readers with their card state and ATR. The ATR is read with a short shared
 * connection (SCardConnect shared + SCardStatus, card left as it is), once per card
 * insertion: through one context, later listings reuse it until the watch reports an
 * insertion or removal (README "The ATR of a listing"). Fails with a PcscError
 * (`SCARD_E_NO_SERVICE` when no PC/SC service runs).
 */
export async function listReaders(opts: OpenOptions = {}): Promise<ReaderInfo[]> {
  const context = opts.context ?? new PcscContext(opts);
  try {
    await context.settled();
    await context.syncEvents(); // an insertion or removal already seen by the watch counts
    const infos: ReaderInfo[] = [];
    const snapshot = [...context.readers.values()].sort((a, b) => a.name.localeCompare(b.name));
    for (const raw of snapshot) {
      // The state now (an earlier ATR read took time), else as listed (service lost meanwhile).
      infos.push(await describeReader(context, context.readers.get(raw.name) ?? raw));
    }
    return infos;
  } finally {
    if (opts.context === undefined) await context.close();
  }
}

async function describeReader(context: PcscContext, raw: RawReaderState): Promise<ReaderInfo> {
  const base = {
    name: raw.name,
    isExclusive: (raw.state & SCARD_STATE.EXCLUSIVE) !== 0,
    isInUse: (raw.state & SCARD_STATE.INUSE) !== 0,
    state: raw.state,
  };
  if ((raw.state & SCARD_STATE.PRESENT) === 0) return { ...base, card: 'absent', atr: null };
  if ((raw.state & SCARD_STATE.MUTE) !== 0) return { ...base, card: 'mute', atr: null };
  // Another listing is reading this card's ATR (the reader is busy with that read): share it.
  const reading = atrReadsOf(context).get(raw.name);
  if (reading !== undefined) return { ...base, card: 'present', ...(await settledAtr(reading)) };
  // Not while this process powers the card on or off or holds it: a shared connect would fail.
  if (context.isReaderBusy(raw.name) || context.isHeldExclusively(raw.name)) {
    const atrError = new PcscError('SCARD_E_SHARING_VIOLATION', 'this process is using the card', {
      reader: raw.name,
    });
    return { ...base, card: 'present', atr: null, atrError };
  }
  const cached = context.atrs.get(raw.name);
  if (cached !== null) return { ...base, card: 'present', atr: cached };
  const reads = atrReadsOf(context);
  const read = context.onReader(raw.name, () => readAtr(context, raw));
  reads.set(raw.name, read);
  try {
    return { ...base, card: 'present', ...(await settledAtr(read)) };
  } finally {
    if (reads.get(raw.name) === read) reads.delete(raw.name);
  }
}

/** By context, by reader: the ATR read a listing has under way (others join it). */
const atrReads = new WeakMap<PcscContext, Map<string, Promise<Uint8Array>>>();

function atrReadsOf(context: PcscContext): Map<string, Promise<Uint8Array>> {
  let reads = atrReads.get(context);
  if (reads === undefined) atrReads.set(context, (reads = new Map()));
  return reads;
}

/** An ATR read's outcome as a listing reports it: the ATR, or why there is none. */
async function settledAtr(
  read: Promise<Uint8Array>,
): Promise<{ atr: Uint8Array; atrError?: never } | { atr: null; atrError: PcscError }> {
  try {
    return { atr: Uint8Array.from(await read) };
  } catch (e) {
    const atrError = isPcscError(e)
      ? e
      : new PcscError('SCARD_F_UNKNOWN_ERROR', 'reading the ATR failed', { cause: e });
    return { atr: null, atrError };
  }
}

/** The ATR through a short shared connection; kept in the context's cache (atr-cache.ts). */
async function readAtr(context: PcscContext, raw: RawReaderState): Promise<Uint8Array> {
  const token = context.atrs.begin(context.readers.get(raw.name) ?? raw);
  const card = await context.connect(raw.name, 'shared');
  try {
    const { atr } = await card.status();
    context.atrs.fill(token, atr);
    return atr;
  } finally {
    await card.disconnect('leave').catch(() => undefined);
  }
}

/**
 * Opens the reader named exactly `name` as a bridge reader. Fails with a PcscError:
 * `SCARD_E_UNKNOWN_READER` (code `CCID_READER_GONE`) when there is no such reader,
 * `SCARD_E_NO_SERVICE` when no PC/SC service runs. The reader keeps its own context
 * (re-established after a service restart) unless `opts.context` is given.
 */
export async function openReader(
  name: string,
  opts: OpenOptions & PcscReaderOptions = {},
): Promise<PcscReader> {
  const ownsContext = opts.context === undefined;
  const context = opts.context ?? new PcscContext(opts);
  try {
    await context.settled();
    if (!context.readers.has(name)) {
      const known = [...context.readers.keys()].map((n) => `"${n}"`).join(', ') || 'none';
      throw new PcscError(
        'SCARD_E_UNKNOWN_READER',
        `no reader named "${name}" (readers: ${known})`,
        {
          reader: name,
        },
      );
    }
    return new PcscReader(context, name, opts, ownsContext);
  } catch (e) {
    if (ownsContext) await context.close();
    throw e;
  }
}
