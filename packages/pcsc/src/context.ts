/**
 * PcscContext: one established PC/SC context, kept alive. It watches every reader, keeps a
 * snapshot of their states, and re-establishes itself when the service goes away
 * (`SCARD_E_NO_SERVICE`: pcscd restarted, or Windows stopping its Smart Card service when the
 * last reader goes), retrying with a capped backoff. Time is injected (timers).
 */
import { isCardPresentState, isReaderGoneState } from './binding.ts';
import type {
  BindingCard,
  BindingContext,
  CardProtocol,
  PcscBinding,
  RawReaderState,
  ReleaseOptions,
  ShareMode,
} from './binding.ts';
import { AtrCache } from './atr-cache.ts';
import { isPcscError, isServiceLost, PcscError } from './errors.ts';
import { HeldCards } from './held-cards.ts';
import { Listeners } from './listeners.ts';
import { pcscMiniBinding } from './pcsc-mini-binding.ts';

/** Timers the context uses (default the global ones). */
export interface PcscTimers {
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

/** Options of {@link PcscContext}. */
export interface PcscContextOptions {
  /** The PC/SC implementation; default pcsc-mini. */
  binding?: PcscBinding;
  timers?: PcscTimers;
  /** Quiet time after establishing before the reader list counts as complete, ms; default 150. */
  settleMs?: number;
  /**
   * When no reader at all was reported by then, how much longer to wait for a first one, ms;
   * default 1000 (a loaded machine may report later; "no reader" must not be a wrong answer).
   */
  emptyGraceMs?: number;
  /** First retry delay after the service is lost, ms; doubled up to `retryMaxMs`; default 250. */
  retryMinMs?: number;
  /** Longest retry delay, ms; default 2000. */
  retryMaxMs?: number;
}

/** What the context reports. */
export type PcscContextEvent =
  /** A reader appeared or its state changed (`previous` null when new). */
  | { type: 'reader'; reader: RawReaderState; previous: RawReaderState | null }
  /** A reader left while the service runs (unplugged), or was not back after a re-establish. */
  | { type: 'reader-removed'; name: string }
  /** The service went away; readers are unknown until `settled`. */
  | { type: 'service-down'; error: PcscError }
  /** A context is (again) established and its first reader list is complete. */
  | { type: 'settled' };

const defaultTimers: PcscTimers = {
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (h) => clearTimeout(h as ReturnType<typeof setTimeout>),
};

/** A self-healing PC/SC context; see the module comment. */
export class PcscContext {
  readonly #binding: PcscBinding;
  readonly #timers: PcscTimers;
  readonly #settleMs: number;
  readonly #emptyGraceMs: number;
  #isGraceUsed = false;
  readonly #retryMinMs: number;
  readonly #retryMaxMs: number;
  readonly #listeners = new Listeners<PcscContextEvent>();
  #readers = new Map<string, RawReaderState>();
  /** Readers known before the service went down, checked again at the next `settled`. */
  #beforeOutage: Set<string> | null = null;
  #context: BindingContext | null = null;
  #generation = 0;
  #isSettled = false;
  #settleTimer: unknown = null;
  #retryTimer: unknown = null;
  #retryDelayMs: number;
  #lastError: PcscError | null = null;
  #isClosed = false;
  /** The binding context released by {@link close} (a later close may cut its release short). */
  #closedContext: BindingContext | null = null;
  #settledWaiters: {
    resolve: () => void;
    reject: (e: PcscError) => void;
    waitForService: boolean;
  }[] = [];
  /** By reader: settles when the last card call queued on it (see {@link onReader}) has ended. */
  readonly #cardCalls = new Map<string, Promise<void>>();
  readonly #atrs = new AtrCache();
  readonly #held = new HeldCards();

  constructor(opts: PcscContextOptions = {}) {
    this.#binding = opts.binding ?? pcscMiniBinding;
    this.#timers = opts.timers ?? defaultTimers;
    this.#settleMs = opts.settleMs ?? 150;
    this.#emptyGraceMs = opts.emptyGraceMs ?? 1000;
    this.#retryMinMs = opts.retryMinMs ?? 250;
    this.#retryMaxMs = opts.retryMaxMs ?? 2000;
    this.#retryDelayMs = this.#retryMinMs;
    this.#establish();
  }

  /** Readers as last reported (empty while the service is down). */
  get readers(): ReadonlyMap<string, RawReaderState> {
    return this.#readers;
  }

  /** True when a context is established and its first reader list is complete. */
  get isSettled(): boolean {
    return this.#isSettled;
  }

  /** The failure that brought the service down, while it is down. */
  get lastError(): PcscError | null {
    return this.#context === null ? this.#lastError : null;
  }

  /** Subscribes to context events; returns the unsubscribe function. */
  onEvent(listener: (e: PcscContextEvent) => void): () => void {
    return this.#listeners.add(listener);
  }

  /**
   * Resolves once the reader list is complete. With `waitForService: false` (default) it
   * rejects with the establishing error (`SCARD_E_NO_SERVICE`) if the service is down now;
   * with `true` it waits for the service to come back.
   */
  settled(opts: { waitForService?: boolean } = {}): Promise<void> {
    if (this.#isClosed) return Promise.reject(closedError());
    if (this.#isSettled) return Promise.resolve();
    if (this.#context === null && opts.waitForService !== true && this.#lastError !== null) {
      return Promise.reject(this.#lastError);
    }
    const waitForService = opts.waitForService === true;
    return new Promise((resolve, reject) =>
      this.#settledWaiters.push({ resolve, reject, waitForService }),
    );
  }

  /**
   * Runs `fn` (card calls on `reader`) once the card calls queued before it on that reader
   * have ended: this process then never has two handles racing on one card. A listing's short
   * shared connect (to read the ATR) that met a power-on's exclusive connect and reset either
   * failed the power-on with `SCARD_E_SHARING_VIOLATION` or left both calls in pcsc-lite's
   * sharing-violation retry loops for good.
   */
  onReader<T>(reader: string, fn: () => Promise<T>): Promise<T> {
    const run = (this.#cardCalls.get(reader) ?? Promise.resolve()).then(fn);
    const ended = run.then(
      () => undefined,
      () => undefined,
    );
    this.#cardCalls.set(reader, ended);
    void ended.then(() => {
      if (this.#cardCalls.get(reader) === ended) this.#cardCalls.delete(reader);
    });
    return run;
  }

  /** Whether card calls on `reader` are queued or running ({@link onReader}). */
  isReaderBusy(reader: string): boolean {
    return this.#cardCalls.has(reader);
  }

  /**
   * The ATRs read once per card insertion (see atr-cache.ts): entries are dropped on every
   * insertion or removal the watch reports, on reader removal and on context loss.
   */
  get atrs(): AtrCache {
    return this.#atrs;
  }

  /** True while a handle of this process (through this context) holds `reader`'s card exclusively. */
  isHeldExclusively(reader: string): boolean {
    return this.#held.isHeldExclusively(reader);
  }

  /**
   * Resolves once the reader changes the binding's watch had received before the call have
   * reached {@link readers} (the watch runs on another thread).
   */
  async syncEvents(): Promise<void> {
    await this.#context?.flushEvents?.();
  }

  /** SCardConnect through the current context; fails `SCARD_E_NO_SERVICE` while it is down. */
  async connect(
    reader: string,
    share: ShareMode,
    protocols?: readonly CardProtocol[],
  ): Promise<BindingCard> {
    if (this.#isClosed) throw closedError();
    const ctx = this.#context;
    if (ctx === null) {
      throw this.#lastError ?? new PcscError('SCARD_E_NO_SERVICE', 'no PC/SC context');
    }
    try {
      return this.#held.track(reader, share, await ctx.connect(reader, share, protocols));
    } catch (e) {
      const err = isPcscError(e)
        ? e
        : new PcscError('SCARD_F_UNKNOWN_ERROR', 'SCardConnect failed', { cause: e });
      if (ctx === this.#context) this.invalidate(err);
      throw err;
    }
  }

  /**
   * A call through this context failed in a way that means the service is gone
   * (`SCARD_E_NO_SERVICE`, `SCARD_F_COMM_ERROR`, …): drop it now and establish a new one,
   * without waiting for the watch to notice. Other errors are ignored.
   */
  invalidate(error: PcscError): void {
    if (this.#context === null || error.sourceCode === 'SCARD_E_INVALID_HANDLE') return;
    if (isServiceLost(error)) this.#onContextError(this.#context, error);
  }

  /**
   * Releases the context and stops retrying; resolves once released. Idempotent. With
   * `atProcessEnd` (the process exits right after: a command line tool's last step) the
   * binding's watch is left running instead of stopped (ReleaseOptions in binding.ts; with
   * pcsc-mini, stopping can block the process for good) and it resolves at once; a close
   * still under way then resolves too. Card handles are not closed here either way: close
   * the readers first (a lent card gets its disposition there).
   */
  async close(opts: ReleaseOptions = {}): Promise<void> {
    if (this.#isClosed) {
      if (opts.atProcessEnd === true) await this.#closedContext?.release(opts);
      return;
    }
    this.#isClosed = true;
    this.#clearTimers();
    this.#closedContext = this.#context;
    const released = this.#context?.release(opts);
    this.#context = null;
    this.#readers = new Map();
    this.#atrs.clear();
    this.#held.clear();
    const waiters = this.#settledWaiters;
    this.#settledWaiters = [];
    for (const w of waiters) w.reject(closedError());
    this.#listeners.clear();
    await released;
  }

  #establish(): void {
    if (this.#isClosed) return;
    const generation = ++this.#generation;
    let ctx: BindingContext;
    try {
      ctx = this.#binding.establish({
        onReaderState: (s) => {
          if (generation === this.#generation) this.#onReaderState(s);
        },
        onError: (e) => {
          if (generation === this.#generation && this.#context !== null)
            this.#onContextError(this.#context, e);
        },
      });
    } catch (e) {
      this.#onEstablishFailed(
        isPcscError(e)
          ? e
          : new PcscError('SCARD_F_UNKNOWN_ERROR', 'SCardEstablishContext failed', { cause: e }),
      );
      return;
    }
    this.#context = ctx;
    this.#isGraceUsed = false;
    this.#lastError = null;
    this.#retryDelayMs = this.#retryMinMs;
    this.#armSettle();
  }

  #onEstablishFailed(err: PcscError): void {
    this.#lastError = err;
    // One-shot waiters fail now; those that asked to wait for the service keep waiting.
    const failing = this.#settledWaiters.filter((w) => !w.waitForService);
    this.#settledWaiters = this.#settledWaiters.filter((w) => w.waitForService);
    for (const w of failing) w.reject(err);
    this.#scheduleRetry();
  }

  #scheduleRetry(): void {
    if (this.#isClosed || this.#retryTimer !== null) return;
    const delay = this.#retryDelayMs;
    this.#retryDelayMs = Math.min(this.#retryMaxMs, this.#retryDelayMs * 2);
    this.#retryTimer = this.#timers.setTimeout(() => {
      this.#retryTimer = null;
      this.#establish();
    }, delay);
  }

  #onContextError(ctx: BindingContext, err: PcscError): void {
    if (ctx !== this.#context || this.#isClosed) return;
    void ctx.release();
    this.#context = null;
    this.#generation++;
    this.#lastError = err;
    this.#isSettled = false;
    if (this.#settleTimer !== null) this.#timers.clearTimeout(this.#settleTimer);
    this.#settleTimer = null;
    this.#beforeOutage = new Set([...(this.#beforeOutage ?? []), ...this.#readers.keys()]);
    this.#readers = new Map();
    this.#atrs.clear();
    this.#held.clear();
    this.#listeners.emit({ type: 'service-down', error: err });
    this.#scheduleRetry();
  }

  #onReaderState(s: RawReaderState): void {
    const previous = this.#readers.get(s.name) ?? null;
    if (isReaderGoneState(s.state)) {
      if (previous === null) return;
      this.#readers.delete(s.name);
      this.#atrs.forget(s.name);
      this.#listeners.emit({ type: 'reader-removed', name: s.name });
      return;
    }
    const atr = isCardPresentState(s.state) ? s.atr : new Uint8Array(0);
    const events = s.events === undefined ? {} : { events: s.events };
    const next: RawReaderState = { name: s.name, state: s.state, atr, ...events };
    this.#readers.set(s.name, next);
    this.#atrs.onReaderState(next);
    if (!this.#isSettled) this.#armSettle();
    this.#listeners.emit({ type: 'reader', reader: next, previous });
  }

  #armSettle(ms = this.#settleMs): void {
    if (this.#settleTimer !== null) this.#timers.clearTimeout(this.#settleTimer);
    this.#settleTimer = this.#timers.setTimeout(() => {
      this.#settleTimer = null;
      if (this.#readers.size === 0 && !this.#isGraceUsed && this.#emptyGraceMs > 0) {
        this.#isGraceUsed = true;
        this.#armSettle(this.#emptyGraceMs);
        return;
      }
      this.#onSettled();
    }, ms);
  }

  #onSettled(): void {
    if (this.#context === null || this.#isClosed) return;
    this.#isSettled = true;
    const missing = [...(this.#beforeOutage ?? [])].filter((n) => !this.#readers.has(n));
    this.#beforeOutage = null;
    for (const name of missing) this.#atrs.forget(name);
    for (const name of missing) this.#listeners.emit({ type: 'reader-removed', name });
    this.#listeners.emit({ type: 'settled' });
    const waiters = this.#settledWaiters;
    this.#settledWaiters = [];
    for (const w of waiters) w.resolve();
  }

  #clearTimers(): void {
    if (this.#settleTimer !== null) this.#timers.clearTimeout(this.#settleTimer);
    if (this.#retryTimer !== null) this.#timers.clearTimeout(this.#retryTimer);
    this.#settleTimer = null;
    this.#retryTimer = null;
  }
}

function closedError(): PcscError {
  return new PcscError('SCARD_E_INVALID_HANDLE', 'the PC/SC context was closed', {
    code: 'CCID_CLOSED',
  });
}
