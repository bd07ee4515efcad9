/**
 * The few platform facilities the bridge uses, typed minimally so the package needs no DOM
 * or Node types: a WebSocket (browser `WebSocket` and Node `ws` both fit), timers, a clock.
 */
import { RELAY_PATH } from '@cardlend/vscard';

/** `WebSocket.OPEN` (WHATWG WebSockets §readyState). */
export const WS_OPEN = 1;
/** `WebSocket.CONNECTING`. */
export const WS_CONNECTING = 0;

/** What the bridge needs of a WebSocket; the browser's `WebSocket` and `ws`' `WebSocket` both provide it. */
export interface BridgeWebSocket {
  /** Set to `'arraybuffer'` by the bridge when it is `'blob'` (a browser's default); other values are kept. */
  binaryType: string;
  readonly readyState: number;
  /** Subprotocol selected by the server. */
  readonly protocol: string;
  send(data: Uint8Array): void;
  close(code?: number, reason?: string): void;
  addEventListener(type: 'open' | 'error', listener: (event: unknown) => void): void;
  addEventListener(type: 'message', listener: (event: { data: unknown }) => void): void;
  addEventListener(
    type: 'close',
    listener: (event: { code: number; reason: string }) => void,
  ): void;
}

/** Creates the WebSocket; default `new globalThis.WebSocket(url, protocols)`. */
export type CreateWebSocket = (url: string, protocols: string[]) => BridgeWebSocket;

/** Timer functions; default the global `setTimeout`/`clearTimeout`. */
export interface BridgeTimers {
  setTimeout(callback: () => void, delayMs: number): unknown;
  clearTimeout(handle: unknown): void;
}

interface PlatformGlobals {
  WebSocket?: new (url: string, protocols: string[]) => BridgeWebSocket;
  setTimeout?: (callback: () => void, delayMs: number) => unknown;
  clearTimeout?: (handle: unknown) => void;
}

const platform = globalThis as unknown as PlatformGlobals;

/** The global WebSocket as a factory, or `null` when this environment has none (Node 20). */
export function defaultCreateWebSocket(): CreateWebSocket | null {
  const Ctor = platform.WebSocket;
  if (Ctor === undefined) return null;
  return (url, protocols) => new Ctor(url, protocols);
}

/** The global timers. */
export function defaultTimers(): BridgeTimers {
  const set = platform.setTimeout;
  const clear = platform.clearTimeout;
  if (set === undefined || clear === undefined)
    throw new TypeError('no setTimeout in this environment; pass opts.timers');
  return { setTimeout: (cb, ms) => set(cb, ms), clearTimeout: (h) => clear(h) };
}

/**
 * The relay's WebSocket URL from what a person types or a link carries: `http(s)://` becomes
 * `ws(s)://`, and the path gets `/vscard` (RELAY_PATH) unless it already ends with it. Query
 * and fragment are dropped (the token travels as a subprotocol, never in the URL).
 *
 * @throws TypeError when the address is not an http(s) or ws(s) URL.
 */
export function relayWebSocketUrl(relayUrl: string): string {
  const trimmed = relayUrl.trim();
  const m = /^(https?|wss?):\/\/([^/?#]+)([^?#]*)/i.exec(trimmed);
  if (m === null)
    throw new TypeError(
      `relay address must be a ws://, wss://, http:// or https:// URL, got "${relayUrl}"`,
    );
  const scheme = (m[1] ?? '').toLowerCase();
  const wsScheme = scheme === 'https' || scheme === 'wss' ? 'wss' : 'ws';
  let path = (m[3] ?? '').replace(/\/+$/, '');
  if (!path.endsWith(RELAY_PATH)) path += RELAY_PATH;
  return `${wsScheme}://${m[2] ?? ''}${path}`;
}

/**
 * Reads a binary WebSocket message payload as bytes, or `null` for text or unknown payloads.
 * A subclass of Uint8Array (Node's Buffer, whose `slice()` is a view, not a copy) comes back as
 * a plain Uint8Array over the same bytes, so the decoder's copies are copies.
 */
export function messageBytes(data: unknown): Uint8Array | null {
  if (data instanceof ArrayBuffer) return new Uint8Array(data);
  if (data instanceof Uint8Array && data.constructor === Uint8Array) return data;
  if (ArrayBuffer.isView(data))
    return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  return null;
}
