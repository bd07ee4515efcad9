/**
 * An in-memory WebSocket (the BridgeWebSocket surface) with a tiny QEMU-like responder, for
 * fast property tests of the bridge's handling of whatever the relay sends.
 */
import { decodeMessage, encodeMessage } from '@cardlend/vscard';
import type { BridgeWebSocket } from '../../src/platform.ts';

type Listener = (event: never) => void;

export class MemorySocket implements BridgeWebSocket {
  binaryType = 'blob';
  readyState = 0;
  /** Subprotocol the server selected; browsers allow '' (none). */
  protocol = 'cardlend.vscard.v1';
  /** Frames the bridge sent. */
  readonly sent: Uint8Array[] = [];
  closeCode: number | null = null;
  /** Answer control messages like QEMU (Init → Init, others → Error 0). */
  isAutoAck = true;
  readonly #listeners = new Map<string, Listener[]>();

  addEventListener(type: 'open' | 'error' | 'message' | 'close', listener: Listener): void {
    const list = this.#listeners.get(type) ?? [];
    list.push(listener);
    this.#listeners.set(type, list);
  }

  send(data: Uint8Array): void {
    if (this.readyState !== 1) throw new Error('send on a socket that is not open');
    const frame = data.slice();
    this.sent.push(frame);
    if (!this.isAutoAck) return;
    const msg = decodeMessage(frame, { errorCodeByteOrder: 'le' });
    if (msg.type === 'Init') {
      queueMicrotask(() =>
        this.deliver(
          encodeMessage({
            type: 'Init',
            readerId: 0xffffffff,
            magic: Uint8Array.of(0x56, 0x53, 0x43, 0x44),
            version: 2,
            capabilities: [0],
          }),
        ),
      );
    } else if (
      msg.type === 'ReaderAdd' ||
      msg.type === 'ReaderRemove' ||
      msg.type === 'ATR' ||
      msg.type === 'CardRemove'
    ) {
      queueMicrotask(() =>
        this.deliver(
          encodeMessage({ type: 'Error', readerId: 0, code: 0 }, { errorCodeByteOrder: 'be' }),
        ),
      );
    }
  }

  close(code = 1005, reason = ''): void {
    if (this.readyState >= 2) return;
    this.readyState = 2;
    queueMicrotask(() => this.drop(code, reason));
  }

  /** The connection opens. */
  open(): void {
    this.readyState = 1;
    this.#fire('open', {});
  }

  /** The relay sends one binary frame. */
  deliver(bytes: Uint8Array): void {
    if (this.readyState !== 1) return;
    const copy = bytes.slice();
    this.#fire('message', { data: copy.buffer });
  }

  /** The connection ends with `code`. */
  drop(code = 1006, reason = ''): void {
    if (this.readyState === 3) return;
    this.readyState = 3;
    this.closeCode = code;
    this.#fire('close', { code, reason });
  }

  #fire(type: string, event: unknown): void {
    for (const l of this.#listeners.get(type) ?? []) (l as (e: unknown) => void)(event);
  }
}

/** A WebSocket factory handing out `socket`, which opens on the next microtask. */
export function opensSoon(socket: MemorySocket): () => MemorySocket {
  return () => {
    queueMicrotask(() => socket.open());
    return socket;
  };
}
