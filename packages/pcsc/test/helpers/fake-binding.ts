/**
 * A fake PcscBinding for unit and property tests: readers, cards, a service that stops and
 * starts, resets by "another program", failures and answers that never come, all driven by
 * the test. It follows pcsc-lite's rules as measured (README): exclusive sharing, handles
 * invalid after a reset or removal, NO_SERVICE while stopped, events delivered asynchronously.
 */
import type {
  BindingCard,
  BindingContext,
  CardProtocol,
  CardStatus,
  ContextListener,
  Disposition,
  PcscBinding,
  RawReaderState,
  ReleaseOptions,
  ShareMode,
} from '../../src/index.ts';
import { PcscError, SCARD_STATE } from '../../src/index.ts';
import type { PcscCode } from '../../src/index.ts';

interface FakeReader {
  name: string;
  card: { atr: Uint8Array; protocol: CardProtocol; insertion: number; resets: number } | null;
  handles: Set<FakeCard>;
  /** pcsc-lite's event counter: +1 per card insertion or removal. */
  events: number;
}

/** How the fake card answers a command (default: the command's data back + 9000). */
export type Answerer = (apdu: Uint8Array) => Promise<Uint8Array> | Uint8Array;

let insertions = 0;

class FakeCard implements BindingCard {
  readonly #binding: FakeBinding;
  readonly #reader: FakeReader;
  readonly share: ShareMode;
  readonly serviceEpoch: number;
  #insertion: number;
  #resets: number;
  #isOpen = true;
  #busy: Promise<void> = Promise.resolve();
  protocol: CardProtocol;

  constructor(binding: FakeBinding, reader: FakeReader, share: ShareMode) {
    this.#binding = binding;
    this.#reader = reader;
    this.share = share;
    this.serviceEpoch = binding.serviceEpoch;
    this.#insertion = reader.card?.insertion ?? -1;
    this.#resets = reader.card?.resets ?? 0;
    this.protocol = reader.card?.protocol ?? 1;
  }

  #check(): void {
    const b = this.#binding;
    if (!b.isServiceUp) throw new PcscError('SCARD_E_NO_SERVICE', 'fake: service stopped');
    if (!this.#isOpen || this.serviceEpoch !== b.serviceEpoch) {
      throw new PcscError('SCARD_E_INVALID_HANDLE', 'fake: handle closed');
    }
    const card = this.#reader.card;
    if (!b.hasReader(this.#reader.name))
      throw new PcscError('SCARD_E_READER_UNAVAILABLE', 'fake: reader gone');
    if (card === null || card.insertion !== this.#insertion) {
      throw new PcscError('SCARD_W_REMOVED_CARD', 'fake: card removed');
    }
    if (card.resets !== this.#resets) throw new PcscError('SCARD_W_RESET_CARD', 'fake: card reset');
  }

  async status(): Promise<CardStatus> {
    await this.#binding.gate;
    this.#check();
    const card = this.#reader.card;
    return { atr: Uint8Array.from(card?.atr ?? []), protocol: this.protocol, isPowered: true };
  }

  async transmit(apdu: Uint8Array): Promise<Uint8Array> {
    this.#check();
    this.#binding.transmitted.push(apdu);
    const failure = this.#binding.nextFailures.shift();
    if (failure !== undefined) throw new PcscError(failure, 'fake: injected failure');
    // Like a handle's calls in pcsc-mini (one task at a time): a disconnect waits for this.
    const answer = Promise.resolve(this.#binding.answerer(apdu));
    this.#busy = answer.then(
      () => undefined,
      () => undefined,
    );
    const bytes = await answer;
    this.#check();
    return bytes;
  }

  async reconnect(_share: ShareMode, init: Disposition): Promise<CardProtocol> {
    await this.#binding.gate;
    const card = this.#reader.card;
    if (card !== null && card.insertion === this.#insertion && this.#binding.isServiceUp) {
      if (init !== 'leave') card.resets++;
      this.#resets = card.resets;
    }
    this.#check();
    return this.protocol;
  }

  async disconnect(disposition: Disposition): Promise<void> {
    await this.#busy;
    if (!this.#isOpen) throw new PcscError('SCARD_E_INVALID_HANDLE', 'fake: handle closed');
    this.#isOpen = false;
    this.#reader.handles.delete(this);
    const card = this.#reader.card;
    if (disposition !== 'leave' && card !== null && card.insertion === this.#insertion)
      card.resets++;
  }

  get isOpen(): boolean {
    return this.#isOpen;
  }
}

class FakeContext implements BindingContext {
  readonly #binding: FakeBinding;
  readonly listener: ContextListener;
  readonly epoch: number;
  isReleased = false;
  /**
   * How the watch ended: `stopped` by a release (pcsc-mini's stop()), `abandoned` by a release
   * `atProcessEnd` (left running until the process exits), `null` while it runs.
   */
  watchEnd: 'stopped' | 'abandoned' | null = null;
  /** A plain release waiting (FakeBinding.isReleaseHeld), and how to end it. */
  #heldRelease: Promise<void> | null = null;
  #endHeldRelease: (() => void) | null = null;

  constructor(binding: FakeBinding, listener: ContextListener) {
    this.#binding = binding;
    this.listener = listener;
    this.epoch = binding.serviceEpoch;
  }

  async connect(reader: string, share: ShareMode): Promise<BindingCard> {
    const b = this.#binding;
    b.connects.push(share);
    if (b.isConnectHeld) await b.gate;
    if (!b.isServiceUp || this.epoch !== b.serviceEpoch) {
      throw new PcscError('SCARD_E_NO_SERVICE', 'fake: service stopped');
    }
    const r = b.reader(reader);
    if (r === undefined) throw new PcscError('SCARD_E_UNKNOWN_READER', 'fake: no such reader');
    if (r.card === null) throw new PcscError('SCARD_E_NO_SMARTCARD', 'fake: no card');
    const held = [...r.handles];
    if (held.some((h) => h.share === 'exclusive') || (share === 'exclusive' && held.length > 0)) {
      throw new PcscError('SCARD_E_SHARING_VIOLATION', 'fake: card held');
    }
    const card = new FakeCard(b, r, share);
    r.handles.add(card);
    return card;
  }

  /** Delivers the reader changes a lagging watch holds back (see FakeBinding.isWatchLagging). */
  flushEvents(): Promise<void> {
    this.#binding.deliverLagging();
    return Promise.resolve();
  }

  release(opts: ReleaseOptions = {}): Promise<void> {
    this.isReleased = true;
    const isAtProcessEnd = opts.atProcessEnd === true;
    if (!isAtProcessEnd && this.#binding.isReleaseHeld && this.watchEnd === null) {
      this.#heldRelease ??= new Promise((resolve) => (this.#endHeldRelease = resolve));
      return this.#heldRelease;
    }
    if (this.watchEnd === null) {
      this.watchEnd = isAtProcessEnd ? 'abandoned' : 'stopped';
      this.#binding.watchEnds.push(this.watchEnd);
    }
    this.#endHeldRelease?.();
    return Promise.resolve();
  }
}

/** The fake; see the module comment. */
export class FakeBinding implements PcscBinding {
  isServiceUp = true;
  serviceEpoch = 0;
  answerer: Answerer = (apdu) => Uint8Array.from([...apdu.subarray(5), 0x90, 0x00]);
  /** PC/SC codes the next transmits fail with, in order. */
  readonly nextFailures: PcscCode[] = [];
  readonly transmitted: Uint8Array[] = [];
  /** The share mode of every SCardConnect, in order. */
  readonly connects: ShareMode[] = [];
  /** While set, SCardStatus and SCardReconnect wait for it (a card call in progress). */
  gate: Promise<void> | null = null;
  /** Whether SCardConnect waits for {@link gate} too (a connect in progress). */
  isConnectHeld = false;
  /**
   * While true, a plain release waits, its watch never stopped (a watch that never gets
   * quiet), until a release `atProcessEnd` cuts it short.
   */
  isReleaseHeld = false;
  /** Whether reader states carry the event counter (`RawReaderState.events`), as pcsc-lite's do. */
  reportsEvents = true;
  /**
   * While true, reader changes wait for the context's flushEvents() (received by the watch
   * thread, not yet handed to JS) instead of arriving on their own.
   */
  isWatchLagging = false;
  readonly #lagging: (() => void)[] = [];
  readonly #readers = new Map<string, FakeReader>();
  readonly #contexts = new Set<FakeContext>();
  establishCount = 0;
  /** How each released context's watch ended, in release order (see FakeContext.watchEnd). */
  readonly watchEnds: ('stopped' | 'abandoned')[] = [];

  establish(listener: ContextListener): BindingContext {
    if (!this.isServiceUp) throw new PcscError('SCARD_E_NO_SERVICE', 'fake: service stopped');
    this.establishCount++;
    const ctx = new FakeContext(this, listener);
    this.#contexts.add(ctx);
    for (const r of this.#readers.values()) this.#report(ctx, r);
    return ctx;
  }

  reader(name: string): FakeReader | undefined {
    return this.#readers.get(name);
  }

  hasReader(name: string): boolean {
    return this.#readers.has(name);
  }

  /**
   * Holds SCardStatus and SCardReconnect (sets {@link gate}), with `connects` SCardConnect
   * too, until the returned function is called.
   */
  holdCardCalls(opts: { connects?: boolean } = {}): () => void {
    let release = (): void => {};
    this.gate = new Promise((resolve) => (release = resolve));
    this.isConnectHeld = opts.connects ?? false;
    return () => {
      release();
      this.gate = null;
      this.isConnectHeld = false;
    };
  }

  addReader(name: string): void {
    const r: FakeReader = { name, card: null, handles: new Set(), events: 0 };
    this.#readers.set(name, r);
    this.#broadcast(r);
  }

  removeReader(name: string): void {
    const r = this.#readers.get(name);
    if (r === undefined) return;
    this.#readers.delete(name);
    this.#broadcastState(name, SCARD_STATE.UNKNOWN);
  }

  insertCard(
    name: string,
    atr = Uint8Array.of(0x3b, 0x02, 0x14, 0x50),
    protocol: CardProtocol = 1,
  ): void {
    const r = this.#mustReader(name);
    r.card = { atr, protocol, insertion: ++insertions, resets: 0 };
    r.events++;
    this.#broadcast(r);
  }

  removeCard(name: string): void {
    const r = this.#mustReader(name);
    r.card = null;
    r.events++;
    this.#broadcast(r);
  }

  /**
   * The card pulled and another put in while the watch was not waiting: pcsc-lite then
   * reports one change, present as before, its event counter 2 higher.
   */
  swapCard(name: string, atr: Uint8Array): void {
    const r = this.#mustReader(name);
    r.card = { atr, protocol: r.card?.protocol ?? 1, insertion: ++insertions, resets: 0 };
    r.events += 2;
    this.#broadcast(r);
  }

  /** A reader event without an insertion or removal (e.g. another program let go of the card). */
  touch(name: string): void {
    this.#broadcast(this.#mustReader(name));
  }

  /** Another program resets the card: open handles fail with SCARD_W_RESET_CARD. */
  resetCard(name: string): void {
    const card = this.#mustReader(name).card;
    if (card !== null) card.resets++;
  }

  stopService(): void {
    if (!this.isServiceUp) return;
    this.isServiceUp = false;
    this.serviceEpoch++;
    for (const ctx of this.#contexts) {
      this.#contexts.delete(ctx);
      if (!ctx.isReleased) {
        const listener = ctx.listener;
        queueMicrotask(() =>
          listener.onError(new PcscError('SCARD_F_COMM_ERROR', 'fake: service stopped')),
        );
      }
    }
    for (const r of this.#readers.values()) r.handles.clear();
  }

  startService(): void {
    this.isServiceUp = true;
  }

  /** Open card handles across readers (to check that nothing is left connected). */
  openHandles(): number {
    return [...this.#readers.values()].reduce((n, r) => n + r.handles.size, 0);
  }

  #mustReader(name: string): FakeReader {
    const r = this.#readers.get(name);
    if (r === undefined) throw new Error(`fake: no reader ${name}`);
    return r;
  }

  #stateOf(r: FakeReader): number {
    let state = SCARD_STATE.CHANGED | (r.card === null ? SCARD_STATE.EMPTY : SCARD_STATE.PRESENT);
    if (r.handles.size > 0) state |= SCARD_STATE.INUSE;
    return state;
  }

  #broadcast(r: FakeReader): void {
    this.#broadcastState(r.name, this.#stateOf(r), r.events);
  }

  #broadcastState(name: string, state: number, events?: number): void {
    const s = this.#readerState(name, state, events);
    for (const ctx of this.#contexts) {
      if (ctx.isReleased) continue;
      const deliver = (): void => {
        if (!ctx.isReleased) ctx.listener.onReaderState(s);
      };
      if (this.isWatchLagging) this.#lagging.push(deliver);
      else queueMicrotask(deliver);
    }
  }

  /** The reader changes held back while {@link isWatchLagging}, in order. */
  deliverLagging(): void {
    for (const deliver of this.#lagging.splice(0)) deliver();
  }

  #report(ctx: FakeContext, r: FakeReader): void {
    const s = this.#readerState(r.name, this.#stateOf(r), r.events);
    queueMicrotask(() => {
      if (!ctx.isReleased) ctx.listener.onReaderState(s);
    });
  }

  #readerState(name: string, state: number, events: number | undefined): RawReaderState {
    const atr = new Uint8Array(0);
    return this.reportsEvents && events !== undefined
      ? { name, state, atr, events }
      : { name, state, atr };
  }
}
