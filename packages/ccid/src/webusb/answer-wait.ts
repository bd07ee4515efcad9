import type { CcidCommand, CcidResponse } from '../core/index.ts';
import { CcidError } from '../core/index.ts';
import { DeadlineWatchdog, type Deadlined } from './deadline-watchdog.ts';

/** Options of one exchange. */
export interface ExchangeOptions {
  /** Time to wait for the answer, ms; restarted (× bError) on each time-extension frame. */
  timeoutMs: number;
  signal?: AbortSignal | undefined;
  /** Time-extension frames accepted for one command before giving up with CCID_TIMEOUT. Default 1000. */
  maxTimeExtensions?: number | undefined;
}

const DEFAULT_MAX_TIME_EXTENSIONS = 1000;

/** Marks a promise's rejection handled (one function for all waits). */
const ignore = (): void => undefined;

/**
 * One command's wait for its answer (CcidTransport): settled by the transport with the answer or
 * an error, or failed here on timeout (restarted × bError by each time extension, CCID rev 1.1
 * §6.2.7, bounded in number) or when the AbortSignal fires. One object per command, its state in
 * fields: a command runs for every guest APDU, and a closure per step of it was garbage the next
 * one could wait behind. The timeout is a deadline kept by the transport's
 * {@link DeadlineWatchdog} (one timer for all waits), not a timer of its own.
 */
export class AnswerWait implements Deadlined {
  readonly slot: number;
  readonly seq: number;
  /** Settles with the answer; a rejection is handled even when nobody awaits it. */
  readonly answer: Promise<CcidResponse>;
  readonly #type: CcidCommand['type'];
  readonly #timeoutMs: number;
  readonly #maxExtensions: number;
  readonly #signal: AbortSignal | undefined;
  /** Called before the wait fails on its own: the answer, whole or partial, is not awaited any more. */
  readonly #onGiveUp: (slot: number, seq: number) => void;
  #resolve: (r: CcidResponse) => void = ignore;
  #reject: (e: unknown) => void = ignore;
  readonly #watchdog: DeadlineWatchdog;
  /** When the wait times out, on the watchdog's clock; Infinity before `start()`. */
  deadlineMs = Number.POSITIVE_INFINITY;
  /** The time the current deadline was set for, ms (for the timeout's message). */
  #waitMs = 0;
  #onAbort: (() => void) | undefined;
  #extensions = 0;

  constructor(
    full: CcidCommand,
    opts: ExchangeOptions,
    onGiveUp: (slot: number, seq: number) => void,
    watchdog: DeadlineWatchdog = new DeadlineWatchdog(),
  ) {
    this.slot = full.slot;
    this.seq = full.seq;
    this.#type = full.type;
    this.#timeoutMs = opts.timeoutMs;
    this.#maxExtensions = opts.maxTimeExtensions ?? DEFAULT_MAX_TIME_EXTENSIONS;
    this.#signal = opts.signal;
    this.#onGiveUp = onGiveUp;
    this.#watchdog = watchdog;
    this.answer = new Promise<CcidResponse>((resolve, reject) => {
      this.#resolve = resolve;
      this.#reject = reject;
    });
    this.answer.catch(ignore);
  }

  /** Starts the timeout and listens to the AbortSignal (after the transport registered the wait). */
  start(): void {
    this.#arm(this.#timeoutMs);
    const signal = this.#signal;
    if (signal) {
      this.#onAbort = () =>
        this.#fail(
          new CcidError('CCID_ABORTED', `${this.#type} aborted`, { cause: signal.reason }),
        );
      signal.addEventListener('abort', this.#onAbort, { once: true });
    }
  }

  resolve(r: CcidResponse): void {
    this.#watchdog.forget(this);
    this.#resolve(r);
  }

  reject(e: unknown): void {
    this.#watchdog.forget(this);
    this.#reject(e);
  }

  /** The deadline passed (called by the watchdog). */
  expire(): void {
    this.#fail(
      new CcidError('CCID_TIMEOUT', `no answer to ${this.#type} within ${this.#waitMs} ms`),
    );
  }

  /** A time-extension frame: restart the wait, scaled by the multiplier; bounded, so a reader that only ever sends them can't hold the caller forever. */
  onTimeExtension(multiplier: number): void {
    if (++this.#extensions > this.#maxExtensions)
      this.#fail(
        new CcidError(
          'CCID_TIMEOUT',
          `${this.#type}: more than ${this.#maxExtensions} time extensions`,
        ),
      );
    else this.#arm(this.#timeoutMs * Math.max(1, multiplier));
  }

  /** Ends the wait's deadline (no timer is cleared) and the AbortSignal listener. */
  dispose(): void {
    this.#watchdog.forget(this);
    if (this.#onAbort) this.#signal?.removeEventListener('abort', this.#onAbort);
  }

  /** (Re)starts the deadline `ms` from now. */
  #arm(ms: number): void {
    this.#waitMs = ms;
    this.deadlineMs = this.#watchdog.now() + ms;
    this.#watchdog.watch(this);
  }

  /** Timeout or abort (resync rule 3: the answer is not awaited any more). */
  #fail(e: CcidError): void {
    this.#watchdog.forget(this);
    this.#onGiveUp(this.slot, this.seq);
    this.#reject(e);
  }
}
