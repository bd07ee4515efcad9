/**
 * The relay link: the one WebSocket to the relay, opened and closed on the lending machine's
 * request, its events reported back tagged with the machine's socket id (events of a socket
 * the machine has replaced are the machine's to ignore). Binary frames carry VSCard; a text
 * frame is handed over as its text (the relay's resume offer, relay-resume.ts of @cardlend/vscard).
 */
import { messageBytes, WS_CONNECTING, WS_OPEN } from '../platform.ts';
import type { BridgeWebSocket, CreateWebSocket } from '../platform.ts';

/** Where the link reports socket events (the machine's inputs). */
export interface RelayLinkEvents {
  opened(socket: number, protocol: string): void;
  message(socket: number, data: Uint8Array | string | null): void;
  closed(socket: number, code: number, reason: string): void;
  log(level: 'debug' | 'info' | 'warn', message: string, data?: Record<string, unknown>): void;
}

/** See the module comment. */
export class RelayLink {
  readonly #url: string;
  readonly #protocols: (ticket?: string) => string[];
  readonly #create: CreateWebSocket;
  readonly #events: RelayLinkEvents;
  #current: { socket: number; ws: BridgeWebSocket } | null = null;

  /** `protocols(ticket)`: the subprotocols to offer, presenting `ticket` when given. */
  constructor(
    url: string,
    protocols: (ticket?: string) => string[],
    create: CreateWebSocket,
    events: RelayLinkEvents,
  ) {
    this.#url = url;
    this.#protocols = protocols;
    this.#create = create;
    this.#events = events;
  }

  /** Opens socket `socket` (presenting `ticket`); a factory that throws is reported as a close with 1006. */
  open(socket: number, ticket?: string): void {
    let ws: BridgeWebSocket;
    try {
      ws = this.#create(this.#url, this.#protocols(ticket));
    } catch (e) {
      this.#events.log('warn', 'WebSocket creation failed', { error: String(e) });
      this.#events.closed(socket, 1006, '');
      return;
    }
    this.#current = { socket, ws };
    // Browsers hand binary messages as Blobs unless told otherwise; `ws` in Node hands Buffers
    // (Uint8Arrays, read as they are) and would copy each into a fresh ArrayBuffer if asked.
    if (ws.binaryType === 'blob') ws.binaryType = 'arraybuffer';
    const ev = this.#events;
    ws.addEventListener('open', () => ev.opened(socket, ws.protocol));
    ws.addEventListener('message', (e) =>
      ev.message(socket, typeof e.data === 'string' ? e.data : messageBytes(e.data)),
    );
    ws.addEventListener('close', (e) => {
      if (this.#current?.ws === ws) this.#current = null;
      ev.closed(socket, e.code, e.reason);
    });
    ws.addEventListener('error', () => ev.log('debug', 'WebSocket error event'));
  }

  /** Sends a frame on `socket` if it is the open one. */
  send(socket: number, bytes: Uint8Array): void {
    const ws = this.#socket(socket);
    if (ws !== null && ws.readyState === WS_OPEN) ws.send(bytes);
  }

  /** Closes `socket` if it is opening or open. */
  close(socket: number, code: number, reason: string): void {
    const ws = this.#socket(socket);
    if (ws !== null && (ws.readyState === WS_OPEN || ws.readyState === WS_CONNECTING)) {
      ws.close(code, reason);
    }
  }

  #socket(socket: number): BridgeWebSocket | null {
    return this.#current?.socket === socket ? this.#current.ws : null;
  }
}
