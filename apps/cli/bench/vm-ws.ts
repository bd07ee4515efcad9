/**
 * The relay and the VM in one, for the benchmark: a WebSocket server at /vscard speaking the
 * relay's subprotocol, acknowledging the lender's control messages like QEMU, and sending
 * guest commands one at a time, timing each until its answer arrives (hrtime, µs).
 */
import type { AddressInfo } from 'node:net';
import { decodeMessage, encodeMessage, RELAY_PATH, RELAY_SUBPROTOCOL } from '@cardlend/vscard';
import type { VscardMessage } from '@cardlend/vscard';
import { WebSocketServer } from 'ws';
import type { WebSocket } from 'ws';
import { vmInit } from '../test/helpers/fake-vm.ts';
import { nowUs } from './stats.ts';

export class VmOverWebSocket {
  readonly #server: WebSocketServer;
  #client: WebSocket | null = null;
  #atrSeen: (() => void) | null = null;
  #answer: ((m: VscardMessage) => void) | null = null;

  private constructor(server: WebSocketServer) {
    this.#server = server;
    server.on('connection', (ws) => this.#onConnection(ws));
  }

  static async start(): Promise<VmOverWebSocket> {
    const server = new WebSocketServer({
      host: '127.0.0.1',
      port: 0,
      path: RELAY_PATH,
      perMessageDeflate: false,
      handleProtocols: (p) => (p.has(RELAY_SUBPROTOCOL) ? RELAY_SUBPROTOCOL : false),
    });
    await new Promise<void>((resolve) => server.once('listening', () => resolve()));
    return new VmOverWebSocket(server);
  }

  get url(): string {
    return `ws://127.0.0.1:${(this.#server.address() as AddressInfo).port}${RELAY_PATH}`;
  }

  /** Resolves once a lender has announced its card (ATR acknowledged). */
  cardLent(): Promise<void> {
    return new Promise((resolve) => (this.#atrSeen = resolve));
  }

  /** Sends `apdu` as a guest command; resolves when its answer arrived, with both times (µs). */
  async exchange(apdu: Uint8Array): Promise<{ startUs: number; endUs: number }> {
    const ws = this.#client;
    if (ws === null) throw new Error('no lender connected');
    const reply = new Promise<VscardMessage>((resolve) => (this.#answer = resolve));
    const startUs = nowUs();
    ws.send(encodeMessage({ type: 'APDU', readerId: 0, apdu }));
    const m = await reply;
    const endUs = nowUs();
    if (m.type !== 'APDU') throw new Error(`expected an APDU answer, got ${m.type}`);
    return { startUs, endUs };
  }

  async close(): Promise<void> {
    for (const c of this.#server.clients) c.terminate();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  #onConnection(ws: WebSocket): void {
    this.#client = ws;
    ws.on('message', (data: Buffer) => {
      const m = decodeMessage(new Uint8Array(data), { errorCodeByteOrder: 'le' });
      const ack = (): void =>
        ws.send(encodeMessage({ type: 'Error', readerId: m.readerId, code: 0 }));
      switch (m.type) {
        case 'Init':
          ws.send(encodeMessage(vmInit()));
          return;
        case 'ATR':
          ack();
          this.#atrSeen?.();
          return;
        case 'ReaderAdd':
        case 'CardRemove':
        case 'ReaderRemove':
          ack();
          return;
        default: {
          const answer = this.#answer;
          this.#answer = null;
          answer?.(m);
        }
      }
    });
    ws.on('close', () => {
      if (this.#client === ws) this.#client = null;
    });
  }
}
