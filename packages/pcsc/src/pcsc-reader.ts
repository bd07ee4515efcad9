/**
 * PcscReader: one PC/SC reader with the bridge's reader interface (`BridgeReader` of
 * @cardlend/bridge: getSlotStatus / powerOn / powerOff / transmit / onEvent, one slot).
 *
 * - powerOn: SCardConnect (exclusive by default, see README "Local programs while a card is
 *   lent"), then SCardReconnect with a reset so the guest starts from a fresh card (no PIN
 *   state or selected applet left by a local program), then SCardStatus for ATR and protocol.
 * - powerOff: SCardDisconnect with reset (the guest's PIN verification does not outlive it).
 * - Card removed or reset under a command: the command fails typed (`CCID_CARD_ABSENT` /
 *   `CCID_NOT_POWERED`), `card-removed` is reported, and `card-inserted` again when a card is
 *   (still) there, so the bridge powers it on and announces the new ATR.
 * - Service lost (pcscd restarted): `card-removed`; the context re-establishes itself and the
 *   card is reported inserted again. Reader gone for good: `reader-gone`, every call fails
 *   `CCID_READER_GONE`.
 * Calls run one at a time, each bounded by `timeoutMs`: every call settles.
 */
import type { ReaderEvent } from '@cardlend/ccid';
import { isCardPresentState } from './binding.ts';
import type { BindingCard, CardProtocol, Disposition, ShareMode } from './binding.ts';
import type { PcscContext, PcscContextEvent, PcscTimers } from './context.ts';
import { isPcscError, PcscError } from './errors.ts';
import type { PcscCode } from './errors.ts';

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
  /** Upper bound of each call (connect, transmit, …), ms; default 60 000. */
  timeoutMs?: number;
  /** Timers for the call bound; default the context's defaults (global timers). */
  timers?: PcscTimers;
}

const CARD_GONE: ReadonlySet<PcscCode> = new Set<PcscCode>([
  'SCARD_W_REMOVED_CARD',
  'SCARD_E_NO_SMARTCARD',
]);
const CARD_RESET: ReadonlySet<PcscCode> = new Set<PcscCode>([
  'SCARD_W_RESET_CARD',
  'SCARD_W_UNPOWERED_CARD',
  'SCARD_E_INVALID_HANDLE',
  'SCARD_E_TIMEOUT',
]);

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
  readonly #timeoutMs: number;
  readonly #timers: PcscTimers;
  readonly #ownsContext: boolean;
  readonly #listeners = new Set<(e: ReaderEvent) => void>();
  readonly #unsubscribe: () => void;
  #card: BindingCard | null = null;
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
    this.#timeoutMs = opts.timeoutMs ?? 60_000;
    this.#timers = opts.timers ?? globalTimers;
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
    return isCardPresentState(state.state) ? 'inactive' : 'absent';
  }

  /** Connects to the card (and resets it unless disabled); the ATR and protocol. */
  powerOn(slot = 0): Promise<{ atr: Uint8Array; protocol: 0 | 1 }> {
    this.#checkUsable(slot);
    return this.#op('SCardConnect', async (call) => {
      await this.#dropCard('leave');
      const card = await this.#context.connect(this.name, this.#share, this.#protocols);
      try {
        if (this.#resetOnPowerOn) await card.reconnect(this.#share, 'reset');
        const status = await card.status();
        if (call.isTimedOut) throw new Error('timed out'); // the caller has its answer already
        this.#card = card;
        this.#isCardPresent = true;
        return { atr: status.atr, protocol: status.protocol };
      } catch (e) {
        void card.disconnect('leave').catch(() => undefined);
        throw e;
      }
    });
  }

  /** Lets go of the card (reset by default). Never fails for a card that is already gone. */
  powerOff(slot = 0): Promise<void> {
    this.#checkUsable(slot);
    return this.#op('SCardDisconnect', () => this.#dropCard(this.#powerOffDisposition));
  }

  /** Sends one APDU to the powered card; the full response (data + SW1 SW2). */
  transmit(apdu: Uint8Array, opts: { slot?: number } = {}): Promise<Uint8Array> {
    this.#checkUsable(opts.slot ?? 0);
    return this.#op('SCardTransmit', async () => {
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
      try {
        return await card.transmit(apdu);
      } catch (e) {
        throw this.#onCardFailure(card, e);
      }
    });
  }

  /** Card inserted/removed and reader-gone events; returns the unsubscribe function. */
  onEvent(listener: (e: ReaderEvent) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Lets go of the card (reset) and stops watching; closes the context if it opened it. */
  async close(): Promise<void> {
    if (this.#isClosed) return;
    this.#isClosed = true;
    this.#unsubscribe();
    this.#listeners.clear();
    await this.#chain.catch(() => undefined);
    await this.#dropCard(this.#powerOffDisposition);
    if (this.#ownsContext) this.#context.close();
  }

  #checkUsable(slot: number): void {
    if (this.#isClosed) {
      throw new PcscError('SCARD_E_INVALID_HANDLE', 'the reader was closed', {
        code: 'CCID_CLOSED',
        reader: this.name,
      });
    }
    if (this.#isGone) throw this.#goneError();
    if (slot !== 0) {
      throw new PcscError('SCARD_E_INVALID_PARAMETER', `a PC/SC reader has one slot, not ${slot}`, {
        code: 'CCID_UNSUPPORTED',
        reader: this.name,
      });
    }
  }

  #goneError(): PcscError {
    return new PcscError('SCARD_E_UNKNOWN_READER', `the reader "${this.name}" is gone`, {
      reader: this.name,
    });
  }

  /** Runs `fn` after the calls before it, bounded by the timeout; failures become PcscErrors. */
  #op<T>(what: string, fn: (call: { isTimedOut: boolean }) => Promise<T>): Promise<T> {
    const run = async (): Promise<T> => {
      let timer: unknown = null;
      const call = { isTimedOut: false };
      const timeout = new Promise<never>((_, reject) => {
        timer = this.#timers.setTimeout(() => {
          call.isTimedOut = true;
          reject(
            new PcscError('SCARD_E_TIMEOUT', `${what} took longer than ${this.#timeoutMs} ms`, {
              reader: this.name,
            }),
          );
        }, this.#timeoutMs);
      });
      try {
        return await Promise.race([fn(call), timeout]);
      } catch (e) {
        const err = toPcscError(e, what, this.name);
        if (err.sourceCode === 'SCARD_E_TIMEOUT' && this.#card !== null)
          this.#onCardFailure(this.#card, err);
        throw err;
      } finally {
        this.#timers.clearTimeout(timer);
      }
    };
    const p = this.#chain.then(run, run);
    this.#chain = p.catch(() => undefined);
    return p;
  }

  /** A card call failed: forget a card that is gone or was reset, and tell the bridge. */
  #onCardFailure(card: BindingCard, e: unknown): PcscError {
    const err = toPcscError(e, 'card call', this.name);
    if (this.#card !== card) return err;
    const code = err.sourceCode;
    if (!CARD_GONE.has(code) && !CARD_RESET.has(code) && err.code !== 'CCID_TRANSFER_FAILED')
      return err;
    this.#card = null;
    void card.disconnect('leave').catch(() => undefined);
    this.#setCardPresent(false);
    const state = this.#context.readers.get(this.name);
    if (state !== undefined && isCardPresentState(state.state)) this.#setCardPresent(true);
    return err;
  }

  async #dropCard(disposition: Disposition): Promise<void> {
    const card = this.#card;
    this.#card = null;
    if (card === null) return;
    try {
      await card.disconnect(disposition);
    } catch {
      // Gone or reset already: there is nothing left to let go of.
    }
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
    if (!isPresent && this.#card !== null) {
      const card = this.#card;
      this.#card = null;
      void card.disconnect('leave').catch(() => undefined);
    }
    this.#setCardPresent(isPresent);
  }

  #setCardPresent(isPresent: boolean): void {
    if (isPresent === this.#isCardPresent) return;
    this.#isCardPresent = isPresent;
    this.#emit({ type: isPresent ? 'card-inserted' : 'card-removed', slot: 0 });
  }

  #onGone(): void {
    this.#isGone = true;
    const card = this.#card;
    this.#card = null;
    if (card !== null) void card.disconnect('leave').catch(() => undefined);
    this.#emit({ type: 'reader-gone' });
  }

  #emit(e: ReaderEvent): void {
    for (const l of [...this.#listeners]) {
      try {
        l(e);
      } catch {
        // A listener's bug must not break the reader.
      }
    }
  }
}

function toPcscError(e: unknown, what: string, reader: string): PcscError {
  if (isPcscError(e)) return e;
  return new PcscError('SCARD_F_UNKNOWN_ERROR', `${what} failed`, { reader, cause: e });
}
