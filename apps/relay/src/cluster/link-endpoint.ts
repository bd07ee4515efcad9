/**
 * The browser of a resumed session as the node that runs the session sees it when the browser
 * reached another node (cluster/resume-link.ts): a WebSocket-like endpoint over the link
 * socket, speaking link frames (link-frames.ts). It offers what a relay session uses of a
 * `ws` WebSocket — `send`, `close`, `terminate`, `ping`, `pause`, `resume`, `readyState`,
 * `bufferedAmount`, `protocol`, and the events `message`, `close`, `error`, `pong` — so the
 * session runs unchanged:
 *
 * - a close frame from the peer is the browser's close (its code and reason); the endpoint
 *   answers it, as a WebSocket answers a close frame;
 * - the link ending without a close frame is a dropped connection (1006): the session parks;
 * - bad bytes on the link end it (`error`, then 1006).
 */
import { EventEmitter } from 'node:events';
import type net from 'node:net';
import {
  encodeBeatFrame,
  encodeCloseFrame,
  encodeMessageFrame,
  frameReader,
  PONG_FRAME,
  type LinkFrame,
} from './link-frames.ts';

/** A connection lost without a close frame. */
const CONNECTION_LOST = 1006;

type SendCallback = (e?: Error | null) => void;

export class LinkEndpoint extends EventEmitter {
  readonly CONNECTING = 0;
  readonly OPEN = 1;
  readonly CLOSING = 2;
  readonly CLOSED = 3;
  readyState: 0 | 1 | 2 | 3 = 1;
  /** The subprotocol the browser's node selected. */
  readonly protocol: string;
  readonly #socket: net.Socket;
  readonly #read = frameReader(
    (f) => this.#onFrame(f),
    (e) => {
      if (this.listenerCount('error') > 0) this.emit('error', e);
      this.#socket.destroy();
    },
  );
  /** Bytes the peer sent with its hello, read on the first `resume`. */
  #head: Buffer | undefined;
  #isClosedEmitted = false;

  constructor(socket: net.Socket, protocol: string, head: Buffer) {
    super();
    this.#socket = socket;
    this.protocol = protocol;
    this.#head = head.length > 0 ? head : undefined;
    socket.setTimeout(0);
    socket.on('error', () => {});
    socket.on('data', this.#read);
    socket.once('close', () => this.#closed(CONNECTION_LOST, ''));
  }

  /** Bytes queued towards the browser in this process. */
  get bufferedAmount(): number {
    return this.#socket.writableLength;
  }

  send(data: Uint8Array | string, opts?: { binary?: boolean } | SendCallback, cb?: SendCallback) {
    const callback = typeof opts === 'function' ? opts : cb;
    if (this.readyState !== this.OPEN) {
      if (callback) queueMicrotask(() => callback(new Error('the link is not open')));
      return;
    }
    const isBinary =
      typeof data !== 'string' && (typeof opts !== 'object' || opts.binary !== false);
    this.#socket.write(encodeMessageFrame(data, isBinary), callback);
  }

  /** Sends a close frame; the browser's answer (or the link ending) emits `close`. */
  close(code: number, reason = ''): void {
    if (this.readyState !== this.OPEN) return;
    this.readyState = this.CLOSING;
    this.#socket.write(encodeCloseFrame(code, reason));
  }

  /** Ends the link at once (the browser's node drops the browser: 1006 there too). */
  terminate(): void {
    this.#socket.destroy();
  }

  ping(): void {
    if (this.readyState === this.OPEN) this.#socket.write(encodeBeatFrame('ping'));
  }

  pause(): void {
    this.#socket.pause();
  }

  resume(): void {
    const head = this.#head;
    this.#head = undefined;
    if (head) this.#read(head);
    if (!this.#socket.destroyed) this.#socket.resume();
  }

  #onFrame(f: LinkFrame): void {
    if (this.#isClosedEmitted) return;
    switch (f.kind) {
      case 'binary':
      case 'text':
        if (this.readyState === this.OPEN) this.emit('message', f.data, f.kind === 'binary');
        return;
      case 'ping':
        this.#socket.write(PONG_FRAME);
        return;
      case 'pong':
        this.emit('pong');
        return;
      case 'close':
        // The browser closed (or answered our close): answer, then the link ends.
        if (this.readyState === this.OPEN) this.#socket.write(encodeCloseFrame(f.code, f.reason));
        this.#socket.end();
        this.#closed(f.code, f.reason);
    }
  }

  #closed(code: number, reason: string): void {
    if (this.#isClosedEmitted) return;
    this.#isClosedEmitted = true;
    this.readyState = this.CLOSED;
    this.emit('close', code, Buffer.from(reason));
  }
}
