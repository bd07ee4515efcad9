/**
 * A VSCard host double that behaves like QEMU 7.2's ccid-card-passthru behind the relay
 * (vscard-protocol.md §3–§5): a real `ws` WebSocketServer on port 0 at /vscard, one VSCard
 * message per binary frame. It acks control messages with Error(0), refuses configured ATRs
 * (and, optionally, every ATR QEMU 7.2's check rejects) with Error(1), sends guest APDUs,
 * keeps the FIFO of outstanding guest commands, flushes it on ATR/CardRemove, drops it on
 * ReaderRemove, and drops answers over 374 bytes like usb-ccid does (g02).
 */
import type { AddressInfo } from 'node:net';
import {
  decodeMessage,
  encodeMessage,
  qemu72AcceptsAtr,
  RELAY_SUBPROTOCOL,
  RELAY_TOKEN_SUBPROTOCOL_PREFIX,
  VSCARD_MAX_GUEST_COMMAND_BYTES,
} from '@cardlend/vscard';
import type { VscardMessage } from '@cardlend/vscard';
import { WebSocketServer } from 'ws';
import type { WebSocket } from 'ws';

/** How a guest command ended, from the guest's point of view. */
export type GuestResult =
  | { kind: 'answer'; bytes: Uint8Array }
  /** The client answered VSC_Error: an empty DataBlock flagged failed. */
  | { kind: 'failed' }
  /** An ATR or CardRemove flushed it: empty DataBlock. */
  | { kind: 'flushed' }
  /** ReaderRemove or a disconnect: never answered. */
  | { kind: 'dropped' }
  /** The answer was longer than 374 bytes: usb-ccid discarded it; the guest waits forever. */
  | { kind: 'lost'; length: number };

export interface HostOptions {
  /** ATRs (upper-case hex) answered with Error(1). */
  refusedAtrs?: string[];
  /** Also refuse ATRs that qemu72AcceptsAtr rejects, like QEMU 7.2 does. Default true. */
  isQemuAtrCheck?: boolean;
  /** Close each new connection at once with this code (e.g. RelayClose.VM_IN_USE). */
  refuseWith?: { code: number; reason: string };
  /** Required token; connections without it are closed with 4001. */
  token?: string;
  /** Largest answer delivered to the guest, default 374. */
  maxAnswerBytes?: number;
}

interface Outstanding {
  resolve: (r: GuestResult) => void;
}

export interface HostConnection {
  readonly socket: WebSocket;
  readonly protocols: string[];
  /** Every client message in arrival order. */
  readonly received: VscardMessage[];
}

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex').toUpperCase();

export class VscardHostDouble {
  readonly server: WebSocketServer;
  readonly connections: HostConnection[] = [];
  /** Messages of all connections, in order, tagged with the connection index. */
  readonly log: { conn: number; msg: VscardMessage }[] = [];
  opts: HostOptions;
  /** When true, control messages get no ack (a wedged VM). */
  isSilent = false;
  /** Card state as the guest sees it. Survives disconnects, like QEMU (§5). */
  atr: Uint8Array | null = null;
  #current: WebSocket | null = null;
  #outstanding: Outstanding[] = [];
  #waiters: { check: () => boolean; resolve: () => void }[] = [];

  private constructor(server: WebSocketServer, opts: HostOptions) {
    this.server = server;
    this.opts = opts;
    server.on('connection', (ws, req) =>
      this.#onConnection(ws, String(req.headers['sec-websocket-protocol'] ?? '')),
    );
  }

  static async start(opts: HostOptions = {}): Promise<VscardHostDouble> {
    const server = new WebSocketServer({
      host: '127.0.0.1',
      port: 0,
      path: '/vscard',
      handleProtocols: (protocols) =>
        protocols.has(RELAY_SUBPROTOCOL) ? RELAY_SUBPROTOCOL : false,
    });
    await new Promise<void>((resolve) => server.once('listening', () => resolve()));
    return new VscardHostDouble(server, opts);
  }

  get url(): string {
    return `ws://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  get outstandingCount(): number {
    return this.#outstanding.length;
  }

  get isConnected(): boolean {
    return this.#current !== null;
  }

  /** Messages of a given type received so far (all connections). */
  received(type: VscardMessage['type']): VscardMessage[] {
    return this.log.filter((e) => e.msg.type === type).map((e) => e.msg);
  }

  /** The type sequence of a connection's messages (default: the latest). */
  types(conn = this.connections.length - 1): string[] {
    return (this.connections[conn]?.received ?? []).map((m) => m.type);
  }

  /**
   * Resolves once a second connection (a reconnect) has sent three messages, with their types:
   * a bridge that announces reader and card again sends Init, ReaderAdd, ATR.
   */
  async secondAnnouncement(): Promise<string[]> {
    await this.until(
      () => this.connections.length === 2 && this.types(1).length === 3,
      'second connection announced',
    );
    return this.types(1);
  }

  /** Resolves once `check` holds (checked after every event). */
  until(check: () => boolean, what = 'condition', timeoutMs = 3000): Promise<void> {
    if (check()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const t = setTimeout(
        () =>
          reject(
            new Error(
              `host double: timed out waiting for ${what}; got ${JSON.stringify(this.types())}`,
            ),
          ),
        timeoutMs,
      );
      this.#waiters.push({
        check,
        resolve: () => {
          clearTimeout(t);
          resolve();
        },
      });
    });
  }

  /** The guest sends a command; resolves with what the guest eventually gets. */
  guestCommand(apdu: Uint8Array | string): Promise<GuestResult> {
    const bytes =
      typeof apdu === 'string'
        ? Uint8Array.from(Buffer.from(apdu.replace(/\s+/g, ''), 'hex'))
        : apdu;
    const ws = this.#current;
    if (ws === null) return Promise.resolve({ kind: 'dropped' });
    return new Promise((resolve) => {
      this.#outstanding.push({ resolve });
      ws.send(
        encodeMessage(
          { type: 'APDU', readerId: 0, apdu: bytes },
          { maxPayloadBytes: VSCARD_MAX_GUEST_COMMAND_BYTES },
        ),
      );
    });
  }

  /** Closes the current connection from the relay side. */
  closeClient(code: number, reason = ''): void {
    this.#current?.close(code, reason);
  }

  /** Drops the TCP connection without a close frame (the browser sees 1006). */
  terminateClient(): void {
    this.#current?.terminate();
  }

  async close(): Promise<void> {
    for (const c of this.connections) c.socket.terminate();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  #onConnection(ws: WebSocket, protocolHeader: string): void {
    const protocols = protocolHeader
      .split(',')
      .map((s) => s.trim())
      .filter((s) => s !== '');
    const conn: HostConnection = { socket: ws, protocols, received: [] };
    const index = this.connections.push(conn) - 1;
    this.#notify();
    if (
      this.opts.token !== undefined &&
      !protocols.includes(RELAY_TOKEN_SUBPROTOCOL_PREFIX + this.opts.token)
    ) {
      ws.close(4001, 'Unauthorized');
      return;
    }
    if (this.opts.refuseWith !== undefined) {
      ws.close(this.opts.refuseWith.code, this.opts.refuseWith.reason);
      return;
    }
    if (this.#current !== null) {
      ws.close(4009, 'VM in use');
      return;
    }
    this.#current = ws;
    ws.on('message', (data: Buffer, isBinary: boolean) => {
      if (!isBinary) {
        ws.close(4000, 'text frame');
        return;
      }
      const msg = decodeMessage(new Uint8Array(data), { errorCodeByteOrder: 'le' });
      conn.received.push(msg);
      this.log.push({ conn: index, msg });
      this.#handle(ws, msg);
      this.#notify();
    });
    ws.on('close', () => {
      if (this.#current === ws) {
        this.#current = null;
        // QEMU keeps outstanding commands after a disconnect; the guest's promise stays pending
        // until a later ATR/CardRemove flushes it — model that by keeping them.
      }
      this.#notify();
    });
  }

  #reply(ws: WebSocket, msg: VscardMessage): void {
    if (!this.isSilent) ws.send(encodeMessage(msg, { errorCodeByteOrder: 'be' }));
  }

  #flush(kind: 'flushed' | 'dropped'): void {
    for (const o of this.#outstanding.splice(0)) o.resolve({ kind });
  }

  #handle(ws: WebSocket, msg: VscardMessage): void {
    switch (msg.type) {
      case 'Init':
        this.#reply(ws, {
          type: 'Init',
          readerId: 0xffffffff,
          magic: Uint8Array.from([0x56, 0x53, 0x43, 0x44]),
          version: 2,
          capabilities: [0],
        });
        return;
      case 'ReaderAdd':
        this.#reply(ws, { type: 'Error', readerId: 0, code: 0 });
        return;
      case 'ReaderRemove':
        if (this.atr !== null) this.#flush('dropped');
        this.atr = null;
        this.#reply(ws, { type: 'Error', readerId: msg.readerId, code: 0 });
        return;
      case 'ATR': {
        const h = hex(msg.atr);
        const isRefused =
          (this.opts.refusedAtrs ?? []).includes(h) ||
          ((this.opts.isQemuAtrCheck ?? true) && !qemu72AcceptsAtr(msg.atr).ok);
        if (isRefused) {
          this.#reply(ws, { type: 'Error', readerId: msg.readerId, code: 1 });
          return;
        }
        this.atr = msg.atr.slice();
        this.#flush('flushed');
        this.#reply(ws, { type: 'Error', readerId: msg.readerId, code: 0 });
        return;
      }
      case 'CardRemove':
        this.atr = null;
        this.#flush('flushed');
        this.#reply(ws, { type: 'Error', readerId: msg.readerId, code: 0 });
        return;
      case 'APDU': {
        const o = this.#outstanding.shift();
        if (o === undefined) return; // "got an APDU without pending answers": dropped
        if (msg.apdu.length > (this.opts.maxAnswerBytes ?? 374))
          o.resolve({ kind: 'lost', length: msg.apdu.length });
        else o.resolve({ kind: 'answer', bytes: msg.apdu.slice() });
        return;
      }
      case 'Error': {
        this.#outstanding.shift()?.resolve({ kind: 'failed' });
        return;
      }
      default:
        this.#reply(ws, { type: 'Error', readerId: msg.readerId, code: 1 });
    }
  }

  #notify(): void {
    for (const w of [...this.#waiters]) {
      if (w.check()) {
        this.#waiters.splice(this.#waiters.indexOf(w), 1);
        w.resolve();
      }
    }
  }
}

export function toHexString(b: Uint8Array): string {
  return hex(b);
}
