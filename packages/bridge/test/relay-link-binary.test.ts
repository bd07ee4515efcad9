/**
 * The relay link asks for ArrayBuffers only where the socket would hand Blobs (a browser's
 * default); a `ws` socket in Node keeps 'nodebuffer' and its Buffers reach the machine as
 * the bytes they are, not copied into a fresh ArrayBuffer per message.
 */
import { describe, expect, it } from 'vitest';
import { RelayLink } from '../src/adapters/relay-link.ts';
import type { RelayLinkEvents } from '../src/adapters/relay-link.ts';
import type { BridgeWebSocket } from '../src/platform.ts';

type Listener = (event: never) => void;

/** The least of a WebSocket: a binaryType, listeners, and a way to deliver a message. */
function fakeSocket(binaryType: string) {
  const listeners = new Map<string, Listener[]>();
  const ws: BridgeWebSocket = {
    binaryType,
    readyState: 1,
    protocol: 'cardlend.vscard.v1',
    send: () => undefined,
    close: () => undefined,
    addEventListener: (type: string, l: Listener) =>
      listeners.set(type, [...(listeners.get(type) ?? []), l]),
  };
  const deliver = (data: unknown): void => {
    for (const l of listeners.get('message') ?? []) l({ data } as never);
  };
  return { ws, deliver };
}

function openedLink(ws: BridgeWebSocket): (Uint8Array | string | null)[] {
  const messages: (Uint8Array | string | null)[] = [];
  const events: RelayLinkEvents = {
    opened: () => undefined,
    message: (_socket, data) => messages.push(data),
    closed: () => undefined,
    log: () => undefined,
  };
  new RelayLink(
    'ws://relay.test/vscard',
    () => [],
    () => ws,
    events,
  ).open(1);
  return messages;
}

describe('RelayLink binary messages', () => {
  it('turns a Blob socket (browser default) into an ArrayBuffer one and reads its ArrayBuffers', () => {
    const { ws, deliver } = fakeSocket('blob');
    const messages = openedLink(ws);
    expect(ws.binaryType).toBe('arraybuffer');
    deliver(Uint8Array.of(1, 2, 3).buffer);
    expect(messages).toEqual([Uint8Array.of(1, 2, 3)]);
  });

  it("keeps ws' 'nodebuffer' and reads its Buffers without a copy, as plain Uint8Arrays", () => {
    const { ws, deliver } = fakeSocket('nodebuffer');
    const messages = openedLink(ws);
    expect(ws.binaryType).toBe('nodebuffer');
    const chunk = Buffer.from([9, 8, 7, 6, 5]);
    const frame = chunk.subarray(1, 4); // ws hands views into what it read
    deliver(frame);
    expect(messages).toHaveLength(1);
    const bytes = messages[0] as Uint8Array;
    expect([...bytes]).toEqual([8, 7, 6]);
    // The same memory, no copy, but a plain Uint8Array: its slice() copies, unlike a Buffer's.
    expect(bytes.buffer).toBe(chunk.buffer);
    expect(bytes.byteOffset).toBe(frame.byteOffset);
    expect(bytes.constructor).toBe(Uint8Array);
    const copy = bytes.slice(0, 2);
    copy.fill(0);
    expect([...frame]).toEqual([8, 7, 6]);
  });

  it("keeps an 'arraybuffer' socket as it is", () => {
    const { ws, deliver } = fakeSocket('arraybuffer');
    const messages = openedLink(ws);
    expect(ws.binaryType).toBe('arraybuffer');
    deliver('{"text":true}');
    expect(messages).toEqual(['{"text":true}']);
  });
});
