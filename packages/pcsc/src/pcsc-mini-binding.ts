/**
 * The default PcscBinding, on pcsc-mini (prebuilt N-API binaries, no compiler, no install
 * script). Loaded lazily, so importing this package never needs the native addon;
 * `createPcscMiniBinding` takes another module of the same shape instead (a test fake).
 *
 * Measured with pcsc-mini 0.1.3 against pcsc-lite 1.9.9 (../README.md):
 * - the ATR in its reader `change` events is not the card's (right length, bytes `25 00 …`
 *   for every card; pcsc-lite's rgbAtr is right), so this adapter reports an empty ATR there
 *   and the reader layer reads the ATR from SCardStatus. README "The ATR of a listing" has
 *   the measurements and the likely cause; test/pcsc-mini-event-atr.test.ts pins it;
 * - it watches at most 4 readers and holds at most 4 card handles per client;
 * - a stopped pcscd ends its watch with `CommError`; establishing a context then fails with
 *   `NoService` until pcscd is back;
 * - its `change` status keeps pcsc-lite's event counter in the upper 16 bits (reported as
 *   `events`), and it emits a `change` for every counter change (README "The ATR of a
 *   listing");
 * - `Client.stop()` can block the process for good (see QUIET_BEFORE_STOP_MS). A release
 *   waits for a quiet watch first (no `change` event, no card call of this process under way
 *   or just ended), up to 3 s, which lowers the odds but cannot rule the block out: any
 *   reader change, by any process, wakes the watch. A release `atProcessEnd` (the last step
 *   of a command line tool, right before `process.exit`) therefore never calls stop(): the
 *   client stays running and referenced (`abandoned`), and the exit ends its thread and its
 *   connection to the service.
 */
import { createRequire } from 'node:module';
import type * as PcscMini from 'pcsc-mini';
import type {
  BindingCard,
  BindingContext,
  CardProtocol,
  CardStatus,
  ContextListener,
  Disposition,
  PcscBinding,
  ReleaseOptions,
  ShareMode,
} from './binding.ts';
import { SCARD_STATE } from './binding.ts';
import { PcscError } from './errors.ts';
import { fromMiniError } from './pcsc-mini-errors.ts';

/** The parts of the pcsc-mini module this adapter uses (tests pass a fake of them). */
export type PcscMiniModule = Pick<
  typeof PcscMini,
  'Client' | 'CardMode' | 'CardDisposition' | 'Protocol'
>;
type Mini = PcscMiniModule;
let mini: Mini | undefined;

function loadMini(): Mini {
  if (mini !== undefined) return mini;
  try {
    mini = createRequire(import.meta.url)('pcsc-mini') as typeof PcscMini;
    return mini;
  } catch (e) {
    throw new PcscError(
      'SCARD_F_INTERNAL_ERROR',
      'the pcsc-mini native addon could not be loaded',
      {
        code: 'CCID_UNSUPPORTED',
        cause: e,
      },
    );
  }
}

function toMiniMode(m: Mini, share: ShareMode): PcscMini.CardMode {
  return share === 'exclusive' ? m.CardMode.EXCLUSIVE : m.CardMode.SHARED;
}

function toMiniDisposition(m: Mini, d: Disposition): PcscMini.CardDisposition {
  if (d === 'reset') return m.CardDisposition.RESET;
  if (d === 'unpower') return m.CardDisposition.UNPOWER;
  return m.CardDisposition.LEAVE;
}

function toMiniProtocols(m: Mini, protocols: readonly CardProtocol[]): PcscMini.Protocol {
  let p = 0;
  if (protocols.includes(0)) p |= m.Protocol.T0;
  if (protocols.includes(1)) p |= m.Protocol.T1;
  return p as PcscMini.Protocol;
}

function fromMiniProtocol(m: Mini, p: PcscMini.Protocol, reader: string): CardProtocol {
  if (p === m.Protocol.T0) return 0;
  if (p === m.Protocol.T1) return 1;
  throw new PcscError('SCARD_E_PROTO_MISMATCH', `unsupported protocol ${p} (${reader})`, {
    code: 'CCID_UNSUPPORTED',
    reader,
  });
}

/** CardStatus.POWERED of pcsc-lite (SCARD_POWERED) — the same bit in pcsc-mini. */
const CARD_POWERED = 0x10;

/**
 * One card handle. pcsc-mini runs one task per handle and throws `CardIsBusy` at a second
 * one (a disconnect while a transmit waits for the card would fail and leave the card held),
 * so calls on a handle are queued here.
 */
class MiniCard implements BindingCard {
  readonly #m: Mini;
  readonly #card: PcscMini.Card;
  readonly #reader: string;
  #protocol: CardProtocol;
  #queue: Promise<unknown> = Promise.resolve();

  constructor(m: Mini, card: PcscMini.Card, reader: string) {
    this.#m = m;
    this.#card = card;
    this.#reader = reader;
    this.#protocol = fromMiniProtocol(m, card.protocol(), reader);
  }

  get protocol(): CardProtocol {
    return this.#protocol;
  }

  status(): Promise<CardStatus> {
    return this.#run('SCardStatus', async () => {
      const s = await this.#card.state();
      return {
        atr: Uint8Array.from(s.atr),
        protocol: fromMiniProtocol(this.#m, s.protocol, this.#reader),
        isPowered: (s.status.raw & CARD_POWERED) !== 0,
      };
    });
  }

  transmit(apdu: Uint8Array): Promise<Uint8Array> {
    return this.#run('SCardTransmit', async () => Uint8Array.from(await this.#card.transmit(apdu)));
  }

  reconnect(share: ShareMode, init: Disposition): Promise<CardProtocol> {
    return this.#run('SCardReconnect', async () => {
      const p = await this.#card.reconnect(
        toMiniMode(this.#m, share),
        toMiniDisposition(this.#m, init),
      );
      this.#protocol = fromMiniProtocol(this.#m, p, this.#reader);
      return this.#protocol;
    });
  }

  disconnect(disposition: Disposition): Promise<void> {
    return this.#run('SCardDisconnect', () =>
      this.#card.disconnect(toMiniDisposition(this.#m, disposition)),
    );
  }

  /** Queues `fn`: a card call under way from now, while queued too, until it settles. */
  #run<T>(what: string, fn: () => Promise<T>): Promise<T> {
    const call = async (): Promise<T> => {
      try {
        return await fn();
      } catch (e) {
        throw fromMiniError(e, what, this.#reader);
      }
    };
    const p = asCardCall(() => this.#queue.then(call, call));
    this.#queue = p.catch(() => undefined);
    return p;
  }
}

/**
 * pcsc-mini clients whose context could not be released (the service was gone). Kept
 * referenced for the life of the process: pcsc-mini's finalizer would try to release it again
 * and throw (`InvalidHandle`) from a garbage-collection callback, an uncaught exception.
 */
const unreleasable: PcscMini.Client[] = [];

/**
 * pcsc-mini clients released `atProcessEnd` (ReleaseOptions): never stopped, still watching
 * until the process exits. Kept referenced: once garbage, pcsc-mini's finalizer would stop
 * them, and that stop() is the call that can block.
 */
const abandoned: PcscMini.Client[] = [];

/**
 * How long the watch must have been quiet before its client is stopped, ms. pcsc-mini's
 * stop() cancels the watch thread's SCardGetStatusChange and joins the thread ON THE MAIN
 * THREAD; a cancel that arrives while that thread is between two waits (just woken by a
 * change) is lost and stop() blocks the process for good (measured with pcsc-lite 1.9.9). A
 * change reaches JS within milliseconds of the wake, so stopping only after a quiet period
 * keeps the cancel inside a wait, most of the time: another program polling a card can keep
 * waking the watch. Quiet means: no `change` event of the client's watch, and no card call
 * of this process (connect, status, transmit, reconnect, disconnect) under way or ended,
 * within this time: a card call acts on pcscd's reader states while it runs and may wake
 * every watch of the process, with or without a `change` event after, so the quiet time
 * counts from the end of the last one. A process about to exit skips stop() altogether
 * (`atProcessEnd`).
 */
const QUIET_BEFORE_STOP_MS = 200;
/** Stop anyway this long after the release, quiet or not, ms. */
const MAX_STOP_DELAY_MS = 3000;
/**
 * Card calls of this process under way, and when the last one ended: activity for every
 * client of the process (they all watch pcscd's reader states).
 */
let cardCallsUnderWay = 0;
let cardActivityAt = 0;

/** Runs a card call, counted under way until it settles (see QUIET_BEFORE_STOP_MS). */
async function asCardCall<T>(call: () => Promise<T>): Promise<T> {
  cardCallsUnderWay++;
  try {
    return await call();
  } finally {
    cardCallsUnderWay--;
    cardActivityAt = Date.now();
  }
}

/** When a card call of this process last changed reader states: now while one runs. */
function lastCardActivityAt(now: number): number {
  return cardCallsUnderWay > 0 ? now : cardActivityAt;
}

class MiniContext implements BindingContext {
  readonly #m: Mini;
  readonly #client: PcscMini.Client;
  #isReleased = false;
  /** The watch thread has ended by itself (service lost): stopping cannot block. */
  #hasWatchEnded = false;
  #lastActivityAt = Date.now();
  #released: Promise<void> | null = null;
  /** Resolves #released while a release waits for a quiet watch (null otherwise). */
  #endRelease: (() => void) | null = null;
  #stopTimer: ReturnType<typeof setTimeout> | null = null;

  constructor(m: Mini, listener: ContextListener) {
    this.#m = m;
    this.#client = new m.Client();
    this.#client.on('reader', (reader) => this.#watchReader(reader, listener));
    // Stays for the client's life: the watch of a client released `atProcessEnd` still runs,
    // and its end (CommError when pcscd stops) lands here. Without a listener, EventEmitter
    // would throw it from pcsc-mini's callback: an uncaught exception.
    this.#client.on('error', (err) => {
      this.#hasWatchEnded = true;
      if (this.#isReleased) return;
      listener.onError(fromMiniError(err, 'SCardGetStatusChange'));
    });
    try {
      this.#client.start();
    } catch (e) {
      this.#isReleased = true; // no context was established: nothing to release
      this.#released = Promise.resolve();
      throw fromMiniError(e, 'SCardEstablishContext');
    }
  }

  #watchReader(reader: PcscMini.Reader, listener: ContextListener): void {
    const name = reader.name();
    reader.on('change', (status) => {
      this.#lastActivityAt = Date.now();
      if (this.#isReleased) return;
      // pcsc-mini 0.1.3's event ATR is wrong (see the module comment): report none. The
      // upper 16 bits are pcsc-lite's event counter (measured: +1 per insertion or removal).
      const state = status.raw & 0xffff;
      listener.onReaderState({ name, state, atr: new Uint8Array(0), events: status.raw >>> 16 });
    });
    reader.on('disconnect', () => {
      if (this.#isReleased) return;
      listener.onReaderState({ name, state: SCARD_STATE.UNKNOWN, atr: new Uint8Array(0) });
    });
  }

  async connect(
    reader: string,
    share: ShareMode,
    protocols: readonly CardProtocol[] = [0, 1],
  ): Promise<BindingCard> {
    const r = this.#client.reader(reader);
    if (r === undefined) {
      throw new PcscError('SCARD_E_UNKNOWN_READER', `no reader named "${reader}"`, { reader });
    }
    try {
      const mode = toMiniMode(this.#m, share);
      const card = await asCardCall(() => r.connect(mode, toMiniProtocols(this.#m, protocols)));
      return new MiniCard(this.#m, card, reader);
    } catch (e) {
      throw fromMiniError(e, 'SCardConnect', reader);
    }
  }

  /**
   * pcsc-mini hands each change from its watch thread to the main thread through a
   * thread-safe function (a libuv async handle, run in the poll phase). Two setImmediate
   * hops span a whole poll phase, so a change queued before this call has been delivered.
   */
  async flushEvents(): Promise<void> {
    for (let hop = 0; hop < 2; hop++) await new Promise((resolve) => setImmediate(resolve));
  }

  release(opts: ReleaseOptions = {}): Promise<void> {
    if (opts.atProcessEnd === true) return this.#abandon();
    if (this.#released !== null) return this.#released;
    this.#isReleased = true;
    this.#lastActivityAt = Date.now();
    const deadline = Date.now() + MAX_STOP_DELAY_MS;
    this.#released = new Promise((resolve) => {
      this.#endRelease = resolve;
      this.#stopWhenQuiet(deadline);
    });
    return this.#released;
  }

  /**
   * Release `atProcessEnd`: reports nothing more and resolves now; the client is never
   * stopped (see the module comment). A release waiting for a quiet watch ends here too,
   * without its stop(). A client already stopped stays as it is.
   */
  #abandon(): Promise<void> {
    this.#isReleased = true;
    const waiting = this.#endRelease;
    if (this.#released !== null && waiting === null) return this.#released;
    if (this.#stopTimer !== null) clearTimeout(this.#stopTimer);
    this.#stopTimer = null;
    this.#endRelease = null;
    abandoned.push(this.#client);
    this.#released ??= Promise.resolve();
    waiting?.();
    return this.#released;
  }

  #stopWhenQuiet(deadline: number): void {
    this.#stopTimer = null;
    const now = Date.now();
    const activityAt = Math.max(this.#lastActivityAt, lastCardActivityAt(now));
    const wait = Math.min(activityAt + QUIET_BEFORE_STOP_MS, deadline) - now;
    if (!this.#hasWatchEnded && wait > 0) {
      // While a card call runs, this looks again after QUIET_BEFORE_STOP_MS; once it has
      // ended, the timer lands QUIET_BEFORE_STOP_MS after its end.
      this.#stopTimer = setTimeout(() => this.#stopWhenQuiet(deadline), wait);
      return;
    }
    try {
      this.#client.stop();
    } catch {
      // The service is gone (NoService / InvalidHandle): nothing to release, but see below.
      unreleasable.push(this.#client);
    }
    const done = this.#endRelease;
    this.#endRelease = null;
    done?.();
  }
}

/**
 * A binding on the given pcsc-mini module (tests pass a fake); without one, on the real
 * pcsc-mini, loaded at the first `establish`.
 */
export function createPcscMiniBinding(pcscMini?: PcscMiniModule): PcscBinding {
  return {
    establish(listener: ContextListener): BindingContext {
      return new MiniContext(pcscMini ?? loadMini(), listener);
    },
  };
}

/** The pcsc-mini binding (the default of this package). */
export const pcscMiniBinding: PcscBinding = createPcscMiniBinding();
