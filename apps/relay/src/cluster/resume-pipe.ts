/**
 * The browser's side of a resume passed on to another node (cluster/resume-link.ts): its
 * WebSocket and the link to the node that runs its session, piped both ways in link frames
 * (link-frames.ts). Binary and text messages keep their kind; a close keeps its code and
 * reason either way; the session's node's pings reach the browser and its pongs come back.
 *
 * - the browser closes with a close frame: the link carries its code, then ends;
 * - the browser drops (1006): the link is cut without a close frame, so the session parks;
 * - the session's node closes: the browser gets its code and reason;
 * - the link breaks, or its bytes are not frames: the browser is dropped (1006), so it
 *   reconnects with its ticket.
 *
 * Backpressure both ways: a full link pauses the browser; a browser that reads slowly pauses
 * the link, so the session's node sees its own buffer grow (and its slow-reader rule applies).
 *
 * A node that drains cuts the WebSockets it pipes ({@link isPiped}) instead of closing them
 * with 1001, which would end their sessions on the other node: cut, they park there and the
 * pages resume through another node.
 */
import type net from 'node:net';
import type { RawData, WebSocket } from 'ws';
import { closeUnadmitted, type EarlyFrame } from '../admission/pending-client.ts';
import { toBytes } from '../session/wire.ts';
import { encodeCloseFrame, encodeMessageFrame, frameReader, PONG_FRAME } from './link-frames.ts';
import type { LinkFrame } from './link-frames.ts';

/** Bytes queued to the browser above which the link is paused (resumed at half). */
const BROWSER_HIGH_WATER_BYTES = 256 * 1024;

/** Close codes a WebSocket may send (1005, 1006 and 1015 only describe a close). */
function isSendable(code: number): boolean {
  return (
    (code >= 1000 && code <= 1014 && code !== 1004 && code !== 1005 && code !== 1006) ||
    (code >= 3000 && code <= 4999)
  );
}

/** The WebSockets piped to another node's session (one set per process; a WebSocket is one node's). */
const piped = new WeakSet<WebSocket>();

/** Whether `ws` is piped to a session on another node (not one this node runs). */
export function isPiped(ws: WebSocket): boolean {
  return piped.has(ws);
}

/** Pipes `ws` and the link `socket`; `early` are the browser's frames so far, `rest` the link's. */
export function pipeBrowserToLink(
  ws: WebSocket,
  socket: net.Socket,
  early: readonly EarlyFrame[],
  rest: Buffer,
): void {
  piped.add(ws);
  const pipe = new ResumePipe(ws, socket);
  for (const m of early) pipe.fromBrowser(m.data, m.isBinary);
  if (rest.length > 0) pipe.fromLink(rest);
  ws.resume();
}

class ResumePipe {
  readonly #ws: WebSocket;
  readonly #socket: net.Socket;
  /** The link's bytes; bad ones cut the link (and so drop the browser). */
  readonly fromLink = frameReader(
    (f) => this.#toBrowser(f),
    () => this.#socket.destroy(),
  );
  /** The session's node sent a close frame (the link's end is then no drop). */
  #isClosedByLink = false;
  readonly #onSent = (): void => {
    if (this.#ws.bufferedAmount <= BROWSER_HIGH_WATER_BYTES / 2 && this.#socket.isPaused())
      this.#socket.resume();
  };

  constructor(ws: WebSocket, socket: net.Socket) {
    this.#ws = ws;
    this.#socket = socket;
    ws.on('error', () => {});
    ws.on('message', (data: RawData, isBinary: boolean) => this.fromBrowser(data, isBinary));
    ws.on('pong', () => this.#write(PONG_FRAME));
    ws.once('close', (code: number, reason: Buffer) => this.#browserClosed(code, reason));
    socket.on('error', () => {});
    socket.on('data', this.fromLink);
    socket.on('drain', () => ws.resume());
    socket.once('close', () => this.#linkClosed());
  }

  fromBrowser(data: RawData, isBinary: boolean): void {
    if (!this.#write(encodeMessageFrame(toBytes(data), isBinary))) this.#ws.pause();
  }

  #toBrowser(f: LinkFrame): void {
    const ws = this.#ws;
    if (ws.readyState !== ws.OPEN) return;
    switch (f.kind) {
      case 'binary':
      case 'text':
        ws.send(f.data, { binary: f.kind === 'binary' }, this.#onSent);
        if (ws.bufferedAmount > BROWSER_HIGH_WATER_BYTES) this.#socket.pause();
        return;
      case 'ping':
        ws.ping();
        return;
      case 'pong':
        return;
      case 'close':
        this.#isClosedByLink = true;
        if (isSendable(f.code)) closeUnadmitted(ws, f.code, f.reason);
        else ws.terminate();
    }
  }

  #browserClosed(code: number, reason: Buffer): void {
    const socket = this.#socket;
    // A drop is passed on as a drop: the session parks and waits for the ticket.
    if (code === 1006) return void socket.destroy();
    socket.end(encodeCloseFrame(code, reason.toString('utf8')));
    socket.setTimeout(5000, () => socket.destroy());
  }

  #linkClosed(): void {
    const ws = this.#ws;
    if (this.#isClosedByLink || ws.readyState === ws.CLOSED) return;
    ws.terminate();
  }

  #write(frame: Buffer): boolean {
    const socket = this.#socket;
    if (socket.destroyed || !socket.writable) return true;
    return socket.write(frame);
  }
}
