/**
 * PcscReader: one PC/SC reader with the bridge's reader interface (`BridgeReader`,
 * packages/bridge/src/reader.ts: getSlotStatus / powerOn / powerOff / transmit / onEvent, one
 * slot, slot 0).
 *
 * - powerOn: SCardConnect (exclusive by default, see README "Local programs while a card is
 *   lent"), then SCardReconnect with a reset so the guest starts from a fresh card (no PIN
 *   state or selected applet left by a local program), then SCardStatus for ATR and protocol.
 * - powerOff: SCardDisconnect with reset (the guest's PIN verification does not outlive it).
 * - A card pulled or reset under a command: the command fails typed (`CCID_CARD_ABSENT` /
 *   `CCID_NOT_POWERED`; card-failure.ts finds out which), `card-removed` is reported, and
 *   `card-inserted` again when a card is (still) there, so the bridge powers it on again.
 * - Service lost (pcscd restarted): `card-removed`; the context re-establishes itself and the
 *   card is reported inserted again. Reader missing once the service is back, or unplugged:
 *   `reader-gone`, every call (also one in flight) fails `CCID_READER_GONE`.
 * Calls run one at a time, each bounded in time: every call settles.
 */
import type { ReaderEvent } from '@cardlend/ccid';
import { isCardPresentState } from './binding.ts';
import type { BindingCard, CardProtocol, Disposition, ShareMode } from './binding.ts';
import { classifyEmptyAnswer, classifyServiceLoss } from './card-failure.ts';
import type { FailureDeps } from './card-failure.ts';
import type { PcscContext, PcscContextEvent, PcscTimers } from './context.ts';
import { isPcscError, isServiceLost, PcscError } from './errors.ts';
import type { PcscCode } from './errors.ts';
import { Listeners } from './listeners.ts';

/** Options of {@link PcscReader}. */
export interface PcscReaderOptions {
  /** How the card is held while lent; default `exclusive` (local programs are kept out). */
  share?: ShareMode;
  /** Acceptable protocols; default both. */
  protocols?: readonly CardProtocol[];
  /** Reset the card when powering it on (a fresh card for the guest); default true. */
  resetOnPowerOn?: boolean;
  /** What powerOff does with the card; default `reset`. */
  powerOffDisposition?: Disposition;
  /** Longest wait for a card's answer to one command, ms; default 60 000. */
  answerTimeoutMs?: number;
  /** Longest wait for the other calls (connect, reset, status), ms; default 15 000. */
  callTimeoutMs?: number;
  /** After the service was lost during a call, how long to wait for it before answering, ms; default 5 000. */
  serviceWaitMs?: number;
  /** Timers for the bounds; default the global ones. */
  timers?: PcscTimers;
}

/** Codes after which the card handle is useless (the card must be powered on again). */
const HANDLE_LOST: ReadonlySet<PcscCode> = new Set<PcscCode>([
  'SCARD_W_REMOVED_CARD',
  'SCARD_E_NO_SMARTCARD',
  'SCARD_W_RESET_CARD',
  'SCARD_W_UNPOWERED_CARD',
  'SCARD_E_INVALID_HANDLE',
  'SCARD_E_TIMEOUT',
  'SCARD_W_UNRESPONSIVE_CARD',
]);

/** How long an empty answer is checked against the card's presence, ms (card-failure.ts). */
const PRESENCE_WAIT_MS = 2000;

const globalTimers: PcscTimers = {
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (h) => clearTimeout(h as ReturnType<typeof setTimeout>),
};

/** A PC/SC reader as a bridge reader (see the module comment). */
export class PcscReader {
  readonly name: string;
  readonly info: { readonly productName: string };
  readonly #context: PcscContext;
  readonly #share: ShareMode;
  readonly #protocols: readonly CardProtocol[];
  readonly #resetOnPowerOn: boolean;
  readonly #powerOffDisposition: Disposition;
  readonly #answerTimeoutMs: number;
  readonly #callTimeoutMs: number;
  readonly #timers: PcscTimers;
  readonly #failureDeps: FailureDeps;
  readonly #ownsContext: boolean;
  readonly #listeners = new Listeners<ReaderEvent>();
  readonly #unsubscribe: () => void;
  #card: BindingCard | null = null;
  /** Disconnects of dropped handles still on their way (an exclusive connect waits for them). */
  #drops = new Set<Promise<void>>();
  #isCardPresent: boolean;
  #isGone = false;
  #isClosed = false;
  #chain: Promise<unknown> = Promise.resolve();

  /** Use {@link openReader}; `ownsContext`: close() also closes the context. */
  constructor(
    context: PcscContext,
    name: string,
    opts: PcscReaderOptions = {},
    ownsContext = false,
  ) {
    this.name = name;
    this.info = { productName: name };
    this.#context = context;
    this.#share = opts.share ?? 'exclusive';
    this.#protocols = opts.protocols ?? [0, 1];
    this.#resetOnPowerOn = opts.resetOnPowerOn ?? true;
    this.#powerOffDisposition = opts.powerOffDisposition ?? 'reset';
    this.#answerTimeoutMs = opts.answerTimeoutMs ?? 60_000;
    this.#callTimeoutMs = opts.callTimeoutMs ?? 15_000;
    this.#timers = opts.timers ?? globalTimers;
    this.#failureDeps = {
      context,
      reader: name,
      timers: this.#timers,
      presenceWaitMs: PRESENCE_WAIT_MS,
      serviceWaitMs: opts.serviceWaitMs ?? 5000,
    };
    this.#ownsContext = ownsContext;
    const state = context.readers.get(name);
    this.#isCardPresent = state !== undefined && isCardPresentState(state.state);
    this.#unsubscribe = context.onEvent((e) => this.#onContextEvent(e));
  }

  /** `active`: this reader holds the powered card; `inactive`: a card is there; `absent`: none. */
  async getSlotStatus(slot = 0): Promise<'active' | 'inactive' | 'absent'> {
    this.#checkUsable(slot);
    if (this.#card !== null) return 'active';
    const state = this.#context.readers.get(this.name);
    if (state === undefined) {
      if (this.#context.isSettled) throw this.#goneError();
      return 'absent'; // the service is coming back; card-inserted follows
    }
    const isPresent = isCardPresentState(state.state);
    this.#setCardPresent(isPresent);
    return isPresent ? 'inactive' : 'absent';
  }

  /** Connects to the card (and resets it unless disabled); the ATR and protocol. */
  async powerOn(slot = 0): Promise<{ atr: Uint8Array; protocol: 0 | 1 }> {
    this.#checkUsable(slot);
    return this.#op('SCardConnect', this.#callTimeoutMs, (call) =>
      this.#context.onReader(this.name, () => this.#powerOn(call)),
    );
  }

  /** Power-on's card calls, in the context's turn on this reader. */
  async #powerOn(call: { isTimedOut: boolean }): Promise<{ atr: Uint8Array; protocol: 0 | 1 }> {
    this.#dropCard('leave');
    await this.#dropsSettled();
    const card = await this.#context.connect(this.name, this.#share, this.#protocols);
    try {
      if (this.#resetOnPowerOn) await card.reconnect(this.#share, 'reset');
      const status = await card.status();
      if (call.isTimedOut || this.#isGone || this.#isClosed) throw new Error('abandoned');
      this.#card = card;
      this.#setCardPresent(true);
      return { atr: status.atr, protocol: status.protocol };
    } catch (e) {
      this.#track(card.disconnect('leave'));
      throw e;
    }
  }

  /** Lets go of the card (reset by default). Never fails for a card that is already gone. */
  async powerOff(slot = 0): Promise<void> {
    this.#checkUsable(slot);
    return this.#op('SCardDisconnect', this.#callTimeoutMs, () =>
      this.#context.onReader(this.name, async () => {
        const card = this.#card;
        this.#card = null;
        if (card !== null) await card.disconnect(this.#powerOffDisposition).catch(() => undefined);
      }),
    );
  }

  /** Sends one APDU to the powered card; the full response (data + SW1 SW2). */
  async transmit(apdu: Uint8Array, opts: { slot?: number } = {}): Promise<Uint8Array> {
    this.#checkUsable(opts.slot ?? 0);
    // The card's answer is bounded by answerTimeoutMs; finding out what a failure means
    // (card-failure.ts) has its own bounds, so the whole call gets their sum as a safety net.
    const bound = this.#answerTimeoutMs + PRESENCE_WAIT_MS + this.#failureDeps.serviceWaitMs + 1000;
    return this.#op('SCardTransmit', bound, async (call) => {
      const card = this.#card;
      if (card === null) {
        throw new PcscError(
          'SCARD_W_UNPOWERED_CARD',
          'the card is not powered: call powerOn first',
          {
            reader: this.name,
          },
        );
      }
      let answer: Uint8Array;
      try {
        answer = await this.#bounded(card.transmit(apdu), this.#answerTimeoutMs, 'SCardTransmit');
      } catch (e) {
        const err = toPcscError(e, 'SCardTransmit', this.name);
        if (err.sourceCode === 'SCARD_E_TIMEOUT') {
          this.#onCardLost(card, true);
          throw err;
        }
        throw await this.#explain(card, err);
      }
      if (answer.length < 2) throw await this.#explain(card, null);
      if (call.isTimedOut) throw new Error('abandoned'); // its caller has its answer already
      return answer;
    });
  }

  /** Card inserted/removed and reader-gone events; returns the unsubscribe function. */
  onEvent(listener: (e: ReaderEvent) => void): () => void {
    return this.#listeners.add(listener);
  }

  /** Lets go of the card (reset) and stops watching; closes the context if it opened it. */
  async close(): Promise<void> {
    if (this.#isClosed) return;
    this.#isClosed = true;
    this.#unsubscribe();
    this.#listeners.clear();
    this.#dropCard(this.#powerOffDisposition);
    await this.#dropsSettled();
    if (this.#ownsContext) await this.#context.close();
  }

  #checkUsable(slot: number): void {
    if (this.#isClosed) {
      throw new PcscError('SCARD_E_INVALID_HANDLE', 'the reader was closed', {
        code: 'CCID_CLOSED',
        reader: this.name,
      });
    }
    if (this.#isGone) throw this.#goneError();
    if (slot !== 0) throw new RangeError(`a PC/SC reader has one slot (0), not ${slot}`);
  }

  #goneError(cause?: unknown): PcscError {
    return new PcscError('SCARD_E_UNKNOWN_READER', `the reader "${this.name}" is gone`, {
      reader: this.name,
      ...(cause === undefined ? {} : { cause }),
    });
  }

  /** `p`, or a SCARD_E_TIMEOUT rejection after `ms`. */
  async #bounded<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
    let timer: unknown = null;
    const timeout = new Promise<never>((_, reject) => {
      timer = this.#timers.setTimeout(() => {
        reject(
          new PcscError('SCARD_E_TIMEOUT', `${what} took longer than ${ms} ms`, {
            reader: this.name,
          }),
        );
      }, ms);
    });
    try {
      return await Promise.race([p, timeout]);
    } finally {
      this.#timers.clearTimeout(timer);
    }
  }

  /** Runs `fn` after the calls before it, bounded by `timeoutMs`; failures become PcscErrors. */
  #op<T>(
    what: string,
    timeoutMs: number,
    fn: (call: { isTimedOut: boolean }) => Promise<T>,
  ): Promise<T> {
    const run = async (): Promise<T> => {
      let timer: unknown = null;
      const call = { isTimedOut: false };
      const timeout = new Promise<never>((_, reject) => {
        timer = this.#timers.setTimeout(() => {
          call.isTimedOut = true;
          reject(
            new PcscError('SCARD_E_TIMEOUT', `${what} took longer than ${timeoutMs} ms`, {
              reader: this.name,
            }),
          );
        }, timeoutMs);
      });
      try {
        return await Promise.race([fn(call), timeout]);
      } catch (e) {
        const err = toPcscError(e, what, this.name);
        if (this.#isGone) throw this.#goneError(err);
        if (err.sourceCode === 'SCARD_E_TIMEOUT' && this.#card !== null)
          this.#onCardLost(this.#card, true);
        throw err;
      } finally {
        this.#timers.clearTimeout(timer);
      }
    };
    const p = this.#chain.then(run, run);
    this.#chain = p.catch(() => undefined);
    return p;
  }

  /** Finds out what a failed exchange means (`err` null: an empty answer) and updates the card. */
  async #explain(card: BindingCard, err: PcscError | null): Promise<PcscError> {
    let out = err ?? (await classifyEmptyAnswer(this.#failureDeps, card));
    if (isServiceLost(out) && out.sourceCode !== 'SCARD_E_INVALID_HANDLE') {
      out = await classifyServiceLoss(this.#failureDeps, out);
    }
    if (out.code === 'CCID_READER_GONE') this.#onGone();
    else if (out.code === 'CCID_CARD_ABSENT') this.#onCardLost(card, false);
    else if (HANDLE_LOST.has(out.sourceCode) || isServiceLost(out)) this.#onCardLost(card, true);
    return out;
  }

  /**
   * The handle is useless: drop it and report the card removed; with `isMaybeThere` (reset,
   * timeout: the card itself may still be in the reader) inserted again if pcscd shows one,
   * so the bridge powers it on and announces it anew.
   */
  #onCardLost(card: BindingCard, isMaybeThere: boolean): void {
    if (this.#card !== card) return;
    this.#dropCard('leave');
    this.#setCardPresent(false);
    const state = this.#context.readers.get(this.name);
    if (isMaybeThere && state !== undefined && isCardPresentState(state.state)) {
      this.#setCardPresent(true);
    }
  }

  #dropCard(disposition: Disposition): void {
    const card = this.#card;
    this.#card = null;
    if (card !== null) this.#track(card.disconnect(disposition));
  }

  /**
   * Waits (up to 2 s) for the disconnects of dropped handles: an exclusive connect fails while
   * one still holds the card. A handle stuck behind a command the card never answers is not
   * waited for longer: the connect then fails typed (`SCARD_E_SHARING_VIOLATION`).
   */
  async #dropsSettled(): Promise<void> {
    if (this.#drops.size === 0) return;
    let timer: unknown = null;
    const bound = new Promise<void>((resolve) => {
      timer = this.#timers.setTimeout(resolve, 2000);
    });
    await Promise.race([Promise.all([...this.#drops]), bound]);
    this.#timers.clearTimeout(timer);
  }

  /** Keeps a disconnect in #drops until it settles (it may wait for a transmit in flight). */
  #track(p: Promise<void>): void {
    const settled = p.catch(() => undefined);
    this.#drops.add(settled);
    void settled.then(() => this.#drops.delete(settled));
  }

  #onContextEvent(e: PcscContextEvent): void {
    if (this.#isGone || this.#isClosed) return;
    switch (e.type) {
      case 'reader':
        if (e.reader.name === this.name) this.#onPresence(isCardPresentState(e.reader.state));
        return;
      case 'reader-removed':
        if (e.name === this.name) this.#onGone();
        return;
      case 'service-down':
        this.#onPresence(false);
        return;
      case 'settled':
        if (!this.#context.readers.has(this.name)) this.#onGone();
        return;
    }
  }

  #onPresence(isPresent: boolean): void {
    if (!isPresent) this.#dropCard('leave');
    this.#setCardPresent(isPresent);
  }

  #setCardPresent(isPresent: boolean): void {
    if (isPresent === this.#isCardPresent) return;
    this.#isCardPresent = isPresent;
    this.#listeners.emit({ type: isPresent ? 'card-inserted' : 'card-removed', slot: 0 });
  }

  #onGone(): void {
    if (this.#isGone) return;
    this.#isGone = true;
    this.#dropCard('leave');
    this.#listeners.emit({ type: 'reader-gone' });
  }
}

function toPcscError(e: unknown, what: string, reader: string): PcscError {
  if (isPcscError(e)) return e;
  return new PcscError('SCARD_F_UNKNOWN_ERROR', `${what} failed`, { reader, cause: e });
}
