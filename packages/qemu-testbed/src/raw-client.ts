/**
 * A tiny VSCard client over raw TCP for tests that talk to QEMU (or a relay's fake host)
 * directly. It frames by the 12-byte big-endian header itself (vscard-protocol.md §2.1),
 * independently of @cardlend/vscard, so it can serve as an oracle for that package.
 */
import net from 'node:net';
import { TestbedError } from './errors.ts';

/** One whole VSCard message as read off the wire. */
export interface RawMessage {
  type: number;
  readerId: number;
  payload: Uint8Array;
  /** Header + payload. */
  bytes: Uint8Array;
}

/** Builds one message (header fields big-endian). */
export function rawMessage(
  type: number,
  readerId: number,
  payload: Uint8Array | string = new Uint8Array(),
): Uint8Array {
  const body = typeof payload === 'string' ? hex(payload) : payload;
  const out = new Uint8Array(12 + body.length);
  const view = new DataView(out.buffer);
  view.setUint32(0, type >>> 0);
  view.setUint32(4, readerId >>> 0);
  view.setUint32(8, body.length);
  out.set(body, 12);
  return out;
}

/** Hex (spaces allowed) → bytes. */
export function hex(text: string): Uint8Array {
  const clean = text.replace(/\s+/g, '');
  if (clean.length % 2 !== 0 || /[^0-9a-fA-F]/.test(clean))
    throw new RangeError(`not hex: ${text}`);
  return Uint8Array.from(Buffer.from(clean, 'hex'));
}

/** Bytes → lower-case hex. */
export function toHex(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString('hex');
}

export class RawVscardClient {
  readonly socket: net.Socket;
  #buffer: Buffer = Buffer.alloc(0);
  #queue: RawMessage[] = [];
  #waiter: (() => void) | undefined;
  #ended = false;

  private constructor(socket: net.Socket) {
    this.socket = socket;
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => {
      this.#buffer = Buffer.concat([this.#buffer, chunk]);
      while (this.#buffer.length >= 12) {
        const length = this.#buffer.readUInt32BE(8);
        if (this.#buffer.length < 12 + length) break;
        const bytes = Uint8Array.from(this.#buffer.subarray(0, 12 + length));
        this.#buffer = this.#buffer.subarray(12 + length);
        this.#queue.push({
          type: this.#readU32(bytes, 0),
          readerId: this.#readU32(bytes, 4),
          payload: bytes.subarray(12),
          bytes,
        });
      }
      this.#wake();
    });
    socket.on('error', () => {});
    socket.on('close', () => {
      this.#ended = true;
      this.#wake();
    });
  }

  #readU32(bytes: Uint8Array, at: number): number {
    return new DataView(bytes.buffer, bytes.byteOffset).getUint32(at);
  }

  #wake(): void {
    const w = this.#waiter;
    this.#waiter = undefined;
    w?.();
  }

  /** Connects to 127.0.0.1:`port` (or `host`). */
  static connect(port: number, host = '127.0.0.1'): Promise<RawVscardClient> {
    return new Promise((resolve, reject) => {
      const s = net.connect({ port, host }, () => {
        s.off('error', reject);
        resolve(new RawVscardClient(s));
      });
      s.once('error', reject);
    });
  }

  /** Writes bytes (one or more messages, or a deliberate fragment). */
  write(bytes: Uint8Array | string): void {
    this.socket.write(typeof bytes === 'string' ? hex(bytes) : bytes);
  }

  /** Sends one message. */
  send(type: number, readerId: number, payload?: Uint8Array | string): void {
    this.write(rawMessage(type, readerId, payload));
  }

  /** Next message; rejects with TESTBED_TIMEOUT or TESTBED_CLIENT_CLOSED. */
  async next(timeoutMs = 2000): Promise<RawMessage> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const m = this.#queue.shift();
      if (m) return m;
      if (this.#ended) throw new TestbedError('TESTBED_CLIENT_CLOSED', 'connection closed');
      const left = deadline - Date.now();
      if (left <= 0)
        throw new TestbedError('TESTBED_TIMEOUT', `no VSCard message within ${timeoutMs} ms`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.#waiter = () => {
          clearTimeout(t);
          resolve();
        };
      });
    }
  }

  /** Resolves true if nothing arrives within `ms`. */
  async expectSilence(ms: number): Promise<boolean> {
    try {
      await this.next(ms);
      return false;
    } catch (e) {
      if ((e as TestbedError).code === 'TESTBED_TIMEOUT') return true;
      throw e;
    }
  }

  /** Messages received but not yet taken. */
  get pending(): number {
    return this.#queue.length;
  }

  /** Whether the socket has closed. */
  get isClosed(): boolean {
    return this.#ended;
  }

  /** Half-closes (FIN) and waits for the peer's close, at most `timeoutMs`. */
  async end(timeoutMs = 1000): Promise<void> {
    if (this.#ended) return;
    this.socket.end();
    const deadline = Date.now() + timeoutMs;
    while (!this.#ended && Date.now() < deadline) {
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, deadline - Date.now());
        this.#waiter = () => {
          clearTimeout(t);
          resolve();
        };
      });
    }
    this.socket.destroy();
  }

  destroy(): void {
    this.socket.destroy();
  }
}

/** VSCard type numbers (protocol 0.0.2), duplicated here on purpose: the test bed is an independent oracle. */
export const RAW_VSC = {
  Init: 1,
  Error: 2,
  ReaderAdd: 3,
  ReaderRemove: 4,
  ATR: 5,
  CardRemove: 6,
  APDU: 7,
} as const;
/** Client Init: magic VSCD, version 2, one capability word 0. */
export const RAW_INIT_PAYLOAD = '56534344 00000002 00000000';
