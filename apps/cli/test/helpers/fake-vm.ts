/**
 * A stand-in for QEMU's ccid-card-passthru chardev (server=on) for the fast CLI tests: a TCP
 * listener on 127.0.0.1 speaking VSCard (vscard-protocol.md §3–§5) the way QEMU does — Init
 * answered with Init, ReaderAdd/ATR/CardRemove/ReaderRemove acknowledged with Error(0) (an ATR
 * QEMU 7.2 would refuse with Error(1)), guest commands sent as APDU messages and answered in
 * order. The real relay sits between it and the CLI. The real-QEMU proof is guest-lend.test.ts.
 */
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import {
  encodeMessage,
  qemu72AcceptsAtr,
  VSCARD_MAX_GUEST_COMMAND_BYTES,
  VscardDecoder,
} from '@cardlend/vscard';
import type { VscardMessage } from '@cardlend/vscard';

/** The Init QEMU answers a client's Init with: reader_id 0xffffffff, "VSCD", version 2. */
export function vmInit(): VscardMessage {
  return {
    type: 'Init',
    readerId: 0xffffffff,
    magic: Uint8Array.from([0x56, 0x53, 0x43, 0x44]),
    version: 2,
    capabilities: [0],
  };
}

/** The fake VM (see the module comment). */
export class FakeVm {
  readonly server: net.Server;
  /** Every client message, in order, over all connections. */
  readonly received: VscardMessage[] = [];
  /** The card as the guest would see it. */
  atr: Uint8Array | null = null;
  /** Refuse every ATR with Error(1). */
  isRefusingAtrs = false;
  #socket: net.Socket | null = null;
  #answers: ((apdu: Uint8Array | null) => void)[] = [];
  #waiters: (() => void)[] = [];

  private constructor(server: net.Server) {
    this.server = server;
    server.on('connection', (s) => this.#onConnection(s));
  }

  static async start(): Promise<FakeVm> {
    const server = net.createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return new FakeVm(server);
  }

  get port(): number {
    return (this.server.address() as AddressInfo).port;
  }

  /** True while the relay holds a connection to this VM. */
  get isConnected(): boolean {
    return this.#socket !== null;
  }

  /** Message types received so far. */
  types(): string[] {
    return this.received.map((m) => m.type);
  }

  /** Resolves once `check` holds (checked after every message or connection change). */
  async until(check: () => boolean, what: string, timeoutMs = 15_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!check()) {
      if (Date.now() > deadline)
        throw new Error(
          `fake VM: no ${what} within ${timeoutMs} ms; got ${this.types().join(' ')}`,
        );
      await new Promise<void>((resolve) => {
        this.#waiters.push(resolve);
        setTimeout(resolve, 100);
      });
    }
  }

  /** The guest sends a command; resolves with the answer (null: the client answered VSC_Error). */
  guestCommand(apdu: Uint8Array): Promise<Uint8Array | null> {
    const s = this.#socket;
    if (s === null) return Promise.reject(new Error('fake VM: no client connected'));
    return new Promise((resolve) => {
      this.#answers.push(resolve);
      s.write(
        encodeMessage(
          { type: 'APDU', readerId: 0, apdu },
          { maxPayloadBytes: VSCARD_MAX_GUEST_COMMAND_BYTES },
        ),
      );
    });
  }

  async close(): Promise<void> {
    this.#socket?.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  #onConnection(s: net.Socket): void {
    s.setNoDelay(true);
    this.#socket?.destroy();
    this.#socket = s;
    // Client → host: Error codes little-endian (§2.5).
    const decoder = new VscardDecoder({ errorCodeByteOrder: 'le' });
    s.on('data', (chunk: Buffer) => {
      for (const msg of decoder.push(new Uint8Array(chunk))) {
        this.received.push(msg);
        this.#handle(s, msg);
      }
      this.#notify();
    });
    s.on('error', () => undefined);
    s.on('close', () => {
      if (this.#socket === s) this.#socket = null;
      this.#notify();
    });
  }

  #ack(s: net.Socket, readerId: number, code = 0): void {
    s.write(encodeMessage({ type: 'Error', readerId, code }, { errorCodeByteOrder: 'be' }));
  }

  #handle(s: net.Socket, msg: VscardMessage): void {
    switch (msg.type) {
      case 'Init':
        s.write(encodeMessage(vmInit()));
        return;
      case 'ATR': {
        const isRefused = this.isRefusingAtrs || !qemu72AcceptsAtr(msg.atr).ok;
        if (!isRefused) this.atr = msg.atr.slice();
        this.#ack(s, msg.readerId, isRefused ? 1 : 0);
        return;
      }
      case 'CardRemove':
      case 'ReaderRemove':
        this.atr = null;
        this.#ack(s, msg.readerId);
        return;
      case 'ReaderAdd':
        this.#ack(s, msg.readerId);
        return;
      case 'APDU':
        this.#answers.shift()?.(msg.apdu.slice());
        return;
      case 'Error':
        this.#answers.shift()?.(null);
        return;
      default:
        this.#ack(s, msg.readerId, 1);
    }
  }

  #notify(): void {
    for (const w of this.#waiters.splice(0)) w();
  }
}
