/**
 * A WebSocket while it is being admitted: holds the frames that arrive before the session
 * exists (replayed to it in order), hands the first one to first-message authentication,
 * refuses a client that floods, and closes a refused one with its code (reading on, so the
 * close handshake completes). Its listeners and the offered token go away when the session
 * takes over, so an admitted session keeps nothing of admission.
 */
import type { RawData, WebSocket } from 'ws';
import { armAuthDeadline } from '../auth/origin.ts';
import { toBytes } from '../session/wire.ts';
import { NO_OFFERED_TOKEN, type OfferedToken } from './offer.ts';
import { refusalOf } from './steps.ts';
import type { AdmissionIo, Refusal } from './types.ts';

/** Frames held while a session is being admitted (auth, VM connect): at most this many. */
export const MAX_EARLY_FRAMES = 32;

/** A frame as `ws` delivers it. */
export interface EarlyFrame {
  readonly data: RawData;
  readonly isBinary: boolean;
}

type FirstMessage = { data: Buffer; isBinary: boolean } | 'timeout' | 'gone';

function noop(): void {}

/** Closes a WebSocket that is not (yet) a session, reading on so the handshake completes. */
export function closeUnadmitted(ws: WebSocket, code: number, reason: string): void {
  ws.resume();
  ws.close(code, reason);
  setTimeout(() => ws.terminate(), 2000).unref();
}

export class PendingClient implements AdmissionIo {
  readonly ws: WebSocket;
  readonly #abort = new AbortController();
  readonly #early: EarlyFrame[] = [];
  #earlyBytes = 0;
  readonly #maxEarlyBytes: number;
  readonly #now: () => number;
  #offeredToken: OfferedToken;
  #onFirst: ((m: FirstMessage) => void) | undefined;
  /** A refusal the connection decided itself (a flood of early frames). */
  refusedFromOutside: Refusal | undefined;

  constructor(
    ws: WebSocket,
    opts: { maxEarlyBytes: number; now: () => number; offeredToken: OfferedToken },
  ) {
    this.ws = ws;
    this.#maxEarlyBytes = opts.maxEarlyBytes;
    this.#now = opts.now;
    this.#offeredToken = opts.offeredToken;
    ws.on('error', noop);
    ws.on('message', this.#onMessage);
    ws.once('close', this.#onClose);
  }

  get signal(): AbortSignal {
    return this.#abort.signal;
  }

  now(): number {
    return this.#now();
  }

  hold(): void {
    this.ws.pause();
  }

  offeredToken(): OfferedToken {
    return this.#offeredToken;
  }

  #onMessage = (data: RawData, isBinary: boolean): void => {
    const first = this.#onFirst;
    if (first) {
      this.#onFirst = undefined;
      first({ data: toBytes(data), isBinary });
      return;
    }
    this.#early.push({ data, isBinary });
    this.#earlyBytes += Array.isArray(data)
      ? data.reduce((n, b) => n + b.length, 0)
      : data.byteLength;
    if (this.#early.length > MAX_EARLY_FRAMES || this.#earlyBytes > this.#maxEarlyBytes) {
      this.refusedFromOutside ??= refusalOf('message-rate');
      this.#onClose();
    }
  };

  #onClose = (): void => {
    this.#onFirst?.('gone');
    this.#onFirst = undefined;
    this.#abort.abort();
  };

  firstMessage(timeoutMs: number): Promise<FirstMessage> {
    if (this.#abort.signal.aborted) return Promise.resolve('gone');
    const held = this.#early.shift();
    if (held) return Promise.resolve({ data: toBytes(held.data), isBinary: held.isBinary });
    return new Promise((resolve) => {
      const deadline = armAuthDeadline({
        timeoutMs,
        onExpire: () => {
          this.#onFirst = undefined;
          resolve('timeout');
        },
      });
      this.#onFirst = (m) => {
        if (deadline.settle()) resolve(m);
      };
    });
  }

  /** Refuses: the client gets `refusal`'s close code and reason; later frames are ignored. */
  refuse(refusal: Refusal): void {
    this.#detach();
    closeUnadmitted(this.ws, refusal.code, refusal.reason);
  }

  /** The client left or was refused: stop listening. */
  drop(): void {
    this.#detach();
  }

  /** Hands the connection to its session: the frames held so far, in order. */
  handOver(): readonly EarlyFrame[] {
    this.#detach();
    return this.#early;
  }

  #detach(): void {
    this.ws.off('message', this.#onMessage);
    this.ws.off('close', this.#onClose);
    this.#onFirst = undefined;
    this.#offeredToken = NO_OFFERED_TOKEN;
  }
}
