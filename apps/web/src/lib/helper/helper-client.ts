/**
 * The page's connection to a local helper (`cardlend serve`): opens the WebSocket with the
 * protocol's subprotocol, waits for `hello`, sends requests and matches answers by id (with a
 * time limit; a late answer is dropped), and hands events to listeners. Every message from
 * the helper is decoded strictly (@cardlend/helper-protocol). No DOM types: the WebSocket
 * comes from a factory (the browser's, or `ws` in tests).
 */
import {
  codeForClose,
  decodeHelperMessage,
  decodeResult,
  encodeMessage,
  HELPER_SUBPROTOCOL,
} from '@cardlend/helper-protocol';
import type { BridgeTimers, BridgeWebSocket } from '@cardlend/bridge';
import type {
  ClientRequest,
  ClientRequestType,
  ErrorSource,
  HelperErrorCode,
  HelperMessage,
  OkResults,
} from '@cardlend/helper-protocol';

/**
 * The WebSocket members the client uses (the browser's WebSocket and `ws` both fit): the
 * bridge's socket, sending text instead of bytes.
 */
export type HelperSocket = Omit<BridgeWebSocket, 'binaryType' | 'send'> & {
  send(data: string): void;
};

export type CreateHelperSocket = (url: string, protocols: string[]) => HelperSocket;

/** Timer functions (injected in tests): the bridge's. */
export type HelperTimers = BridgeTimers;

/** What a client tells its listeners. */
export type HelperClientEvent =
  | { readonly type: 'pairing'; readonly code: string }
  | { readonly type: 'card'; readonly reader: string; readonly present: boolean }
  | { readonly type: 'reader-gone'; readonly reader: string }
  | { readonly type: 'readers-changed' }
  /** The connection ended; `helperCode` when the helper said why. */
  | {
      readonly type: 'closed';
      readonly code: number;
      readonly reason: string;
      readonly helperCode: HelperErrorCode | null;
    };

/**
 * A refused or failed request: the helper's code (or `CLOSED` / `TIMEOUT` on this side), and
 * the PC/SC code below it when the helper sent one (already checked by the decoder).
 */
export class HelperRequestError extends Error {
  readonly code: HelperErrorCode | `CCID_${string}` | 'CLOSED' | 'TIMEOUT';
  readonly source: ErrorSource | undefined;
  constructor(code: HelperRequestError['code'], message: string, source?: ErrorSource) {
    super(message);
    this.name = 'HelperRequestError';
    this.code = code;
    this.source = source;
  }
}

/** Why connecting failed. */
export class HelperConnectError extends Error {
  /** `unreachable`: no helper answered (none running, or the browser blocked it); `refused`: the helper closed with `helperCode`. */
  readonly kind: 'unreachable' | 'refused' | 'bad-helper';
  readonly helperCode: HelperErrorCode | null;
  readonly closeCode: number | null;
  constructor(
    kind: HelperConnectError['kind'],
    message: string,
    helperCode: HelperErrorCode | null = null,
    closeCode: number | null = null,
  ) {
    super(message);
    this.name = 'HelperConnectError';
    this.kind = kind;
    this.helperCode = helperCode;
    this.closeCode = closeCode;
  }
}

/** Options of {@link HelperClient.connect}. */
export interface HelperClientOptions {
  readonly url: string;
  readonly createSocket: CreateHelperSocket;
  readonly timers?: HelperTimers;
  /** Time limit for `hello`, ms; default 5000. */
  readonly openTimeoutMs?: number;
  /** Default time limit of a request, ms; default 90 000 (the helper's own reader limit is 60 s). */
  readonly requestTimeoutMs?: number;
}

interface Pending {
  readonly type: ClientRequestType;
  readonly resolve: (result: unknown) => void;
  readonly reject: (e: HelperRequestError) => void;
  readonly timer: unknown;
}

const OPEN = 1;

function defaultTimers(): HelperTimers {
  return {
    setTimeout: (cb, ms) => globalThis.setTimeout(cb, ms),
    clearTimeout: (h) => globalThis.clearTimeout(h as ReturnType<typeof globalThis.setTimeout>),
  };
}

/** One connection to a helper (see the module comment). */
export class HelperClient {
  readonly helper: string;
  readonly version: number;
  #approved: boolean;
  readonly #socket: HelperSocket;
  readonly #timers: HelperTimers;
  readonly #requestTimeoutMs: number;
  readonly #pending = new Map<number, Pending>();
  readonly #listeners = new Set<(e: HelperClientEvent) => void>();
  #nextId = 1;
  #closed: HelperClientEvent | null = null;

  private constructor(
    socket: HelperSocket,
    hello: Extract<HelperMessage, { type: 'hello' }>,
    timers: HelperTimers,
    requestTimeoutMs: number,
  ) {
    this.#socket = socket;
    this.helper = hello.helper;
    this.version = hello.version;
    this.#approved = hello.approved;
    this.#timers = timers;
    this.#requestTimeoutMs = requestTimeoutMs;
  }

  /** Connects and waits for `hello`. Rejects with a {@link HelperConnectError}. */
  static connect(opts: HelperClientOptions): Promise<HelperClient> {
    const timers = opts.timers ?? defaultTimers();
    return new Promise((resolve, reject) => {
      let socket: HelperSocket;
      try {
        socket = opts.createSocket(opts.url, [HELPER_SUBPROTOCOL]);
      } catch (e) {
        reject(new HelperConnectError('unreachable', (e as Error).message));
        return;
      }
      let client: HelperClient | null = null;
      const timer = timers.setTimeout(() => {
        socket.close();
        reject(new HelperConnectError('unreachable', 'no hello from the helper'));
      }, opts.openTimeoutMs ?? 5000);
      socket.addEventListener('message', (event) => {
        if (client !== null) return client.#onMessage(event.data);
        const d = typeof event.data === 'string' ? decodeHelperMessage(event.data) : null;
        if (d === null || !d.ok) return; // a refusal follows with the close
        if (d.message.type !== 'hello') return;
        timers.clearTimeout(timer);
        client = new HelperClient(socket, d.message, timers, opts.requestTimeoutMs ?? 90_000);
        resolve(client);
      });
      socket.addEventListener('close', (event) => {
        if (client !== null) return client.#onClose(event.code, event.reason);
        timers.clearTimeout(timer);
        const helperCode = codeForClose(event.code, event.reason);
        reject(
          helperCode === null
            ? new HelperConnectError(
                'unreachable',
                `no helper answered (${event.code})`,
                null,
                event.code,
              )
            : new HelperConnectError('refused', helperCode, helperCode, event.code),
        );
      });
    });
  }

  /** Whether the page's origin is approved by the helper. */
  get approved(): boolean {
    return this.#approved;
  }

  get isOpen(): boolean {
    return this.#closed === null && this.#socket.readyState === OPEN;
  }

  /** Subscribes to events; returns the unsubscribe function. */
  onEvent(listener: (e: HelperClientEvent) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Sends `request` and resolves with its checked result; rejects with a {@link HelperRequestError}. */
  request<T extends ClientRequestType>(
    request: Extract<ClientRequest, { type: T }>,
    timeoutMs: number = this.#requestTimeoutMs,
  ): Promise<OkResults[T]> {
    if (!this.isOpen)
      return Promise.reject(new HelperRequestError('CLOSED', 'the helper connection is closed'));
    const id = this.#nextId++;
    return new Promise<OkResults[T]>((resolve, reject) => {
      const timer = this.#timers.setTimeout(() => {
        if (this.#pending.delete(id))
          reject(new HelperRequestError('TIMEOUT', `${request.type} timed out`));
      }, timeoutMs);
      this.#pending.set(id, {
        type: request.type,
        resolve: resolve as (r: unknown) => void,
        reject,
        timer,
      });
      this.#socket.send(encodeMessage({ ...request, id }));
    });
  }

  /** Asks the helper to approve this page; resolves when the person approved it. */
  async pair(): Promise<void> {
    await this.request({ type: 'pair' }, 10 * 60_000);
    this.#approved = true;
  }

  /** Closes the connection (the helper lets go of this page's readers). */
  close(): void {
    this.#socket.close(1000, 'page closed');
    this.#onClose(1000, 'page closed');
  }

  #onMessage(data: unknown): void {
    const d = typeof data === 'string' ? decodeHelperMessage(data) : null;
    if (d === null || !d.ok) return; // the helper is not trusted: ignore what does not fit
    const m = d.message;
    if (m.type === 'ok' || (m.type === 'error' && m.id !== undefined)) return this.#answer(m);
    if (
      m.type === 'pairing' ||
      m.type === 'card' ||
      m.type === 'reader-gone' ||
      m.type === 'readers-changed'
    )
      this.#emit(m);
  }

  #answer(m: Extract<HelperMessage, { type: 'ok' | 'error' }>): void {
    const id = m.id as number;
    const p = this.#pending.get(id);
    if (p === undefined) return; // timed out already: a late answer is dropped
    this.#pending.delete(id);
    this.#timers.clearTimeout(p.timer);
    if (m.type === 'error') return p.reject(new HelperRequestError(m.code, m.message, m.source));
    const r = decodeResult(p.type, m.result);
    if (r.ok) p.resolve(r.message);
    else p.reject(new HelperRequestError('HELPER_MALFORMED', r.reason));
  }

  #onClose(code: number, reason: string): void {
    if (this.#closed !== null) return;
    const event: HelperClientEvent = {
      type: 'closed',
      code,
      reason,
      helperCode: codeForClose(code, reason),
    };
    this.#closed = event;
    for (const [id, p] of this.#pending) {
      this.#pending.delete(id);
      this.#timers.clearTimeout(p.timer);
      p.reject(
        new HelperRequestError(
          event.helperCode ?? 'CLOSED',
          `the helper connection closed (${code})`,
        ),
      );
    }
    this.#emit(event);
  }

  #emit(e: HelperClientEvent): void {
    for (const l of [...this.#listeners]) {
      try {
        l(e);
      } catch {
        // one listener's failure does not stop the others
      }
    }
  }
}
