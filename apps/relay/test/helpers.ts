/** Test fixtures: a fake VSCard host (net server on port 0), a relay on port 0, and `ws` browsers. */
import { mkdtempSync, mkdirSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { RELAY_PATH, RELAY_SUBPROTOCOL } from '@cardlend/vscard';
import { WebSocket } from 'ws';
import { defaultConfig, type RelayConfig } from '../src/config.ts';
import {
  startRelayServer,
  type RelayServer,
  type RelayServerOptions,
  type ServerEvent,
} from '../src/server.ts';
import { NODE_TIMERS, type SessionTimers, type TimerHandle } from '../src/session/timers.ts';

/** One VSCard message seen by the fake host. */
export interface HostMessage {
  type: number;
  readerId: number;
  payload: Buffer;
  bytes: Buffer;
}

/** One TCP connection accepted by the fake host. */
export class HostConnection {
  readonly socket: net.Socket;
  readonly messages: HostMessage[] = [];
  #chunks: Buffer[] = [];
  isEnded = false;
  isClosed = false;
  #rest: Buffer = Buffer.alloc(0);
  #listeners = new Set<() => void>();

  constructor(socket: net.Socket, isAutoAck: boolean) {
    this.socket = socket;
    socket.setNoDelay(true);
    socket.on('error', () => {});
    socket.on('data', (chunk: Buffer) => {
      this.#chunks.push(chunk);
      this.#rest = Buffer.concat([this.#rest, chunk]);
      while (this.#rest.length >= 12) {
        const length = this.#rest.readUInt32BE(8);
        if (this.#rest.length < 12 + length) break;
        const bytes = this.#rest.subarray(0, 12 + length);
        this.#rest = this.#rest.subarray(12 + length);
        const m = {
          type: bytes.readUInt32BE(0),
          readerId: bytes.readUInt32BE(4),
          payload: bytes.subarray(12),
          bytes,
        };
        this.messages.push(m);
        if (isAutoAck) this.#ack(m);
      }
      this.#notify();
    });
    socket.on('end', () => {
      this.isEnded = true;
      this.#notify();
      // Like QEMU: close our side once the client has finished.
      if (isAutoAck) socket.end();
    });
    socket.on('close', () => {
      this.isClosed = true;
      this.#notify();
    });
  }

  /** Every byte received, in order. */
  get received(): Buffer {
    return Buffer.concat(this.#chunks);
  }

  /** Forget what was received so far. */
  clear(): void {
    this.#chunks = [];
    this.messages.length = 0;
  }

  /** Reply like QEMU: Init → Init, control messages → Error(0) (§3). */
  #ack(m: HostMessage): void {
    if (this.socket.destroyed || !this.socket.writable) return;
    if (m.type === 1) this.socket.write(msg(1, 0xffffffff, '565343440000000200000000'));
    else if ([3, 4, 5, 6].includes(m.type))
      this.socket.write(msg(2, m.type === 3 ? 0 : m.readerId, '00000000'));
  }

  #notify(): void {
    for (const l of [...this.#listeners]) l();
  }

  /** Resolves when `predicate` holds (checked on every event), rejects after `timeoutMs`. */
  waitFor(predicate: () => boolean, timeoutMs = 3000, what = 'condition'): Promise<void> {
    if (predicate()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#listeners.delete(check);
        reject(new Error(`fake host: timed out waiting for ${what}`));
      }, timeoutMs);
      const check = () => {
        if (predicate()) {
          clearTimeout(timer);
          this.#listeners.delete(check);
          resolve();
        }
      };
      this.#listeners.add(check);
    });
  }
}

/** A stand-in for QEMU's VSCard chardev. */
export class FakeVmHost {
  readonly server: net.Server;
  readonly connections: HostConnection[] = [];
  #waiters: ((c: HostConnection) => void)[] = [];

  private constructor(server: net.Server) {
    this.server = server;
  }

  static async start(opts: { isAutoAck?: boolean } = {}): Promise<FakeVmHost> {
    const server = net.createServer();
    const host = new FakeVmHost(server);
    server.on('connection', (s) => {
      const c = new HostConnection(s, opts.isAutoAck ?? true);
      host.connections.push(c);
      host.#waiters.shift()?.(c);
    });
    await new Promise<void>((resolve) => server.listen({ host: '127.0.0.1', port: 0 }, resolve));
    return host;
  }

  get port(): number {
    return (this.server.address() as net.AddressInfo).port;
  }

  /** The next (or an already waiting, not yet taken) connection. */
  nextConnection(index = this.connections.length): Promise<HostConnection> {
    const c = this.connections[index];
    if (c) return Promise.resolve(c);
    return new Promise((resolve) => this.#waiters.push(resolve));
  }

  async close(): Promise<void> {
    for (const c of this.connections) c.socket.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

/** Builds a message: type, readerId, payload hex. */
export function msg(type: number, readerId: number, payloadHex = ''): Buffer {
  const payload = Buffer.from(payloadHex.replace(/\s+/g, ''), 'hex');
  const out = Buffer.alloc(12 + payload.length);
  out.writeUInt32BE(type >>> 0, 0);
  out.writeUInt32BE(readerId >>> 0, 4);
  out.writeUInt32BE(payload.length, 8);
  payload.copy(out, 12);
  return out;
}

/** A static dir with a tiny built app. */
export function makeStaticDir(): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'cardlend-relay-static-'));
  writeFileSync(path.join(dir, 'index.html'), '<!doctype html><title>cardlend</title>');
  mkdirSync(path.join(dir, 'assets'));
  writeFileSync(path.join(dir, 'assets', 'app-1234.js'), 'console.log(1);');
  writeFileSync(path.join(dir, 'assets', 'app-1234.css'), 'body{}');
  return dir;
}

export async function startTestRelay(
  targetPort: number,
  overrides: Partial<RelayConfig> = {},
  extra: Omit<RelayServerOptions, 'config' | 'onEvent'> = {},
): Promise<{ relay: RelayServer; events: ServerEvent[] }> {
  const config: RelayConfig = {
    ...defaultConfig(),
    listen: { host: '127.0.0.1', port: 0 },
    targets: { default: { host: '127.0.0.1', port: targetPort } },
    staticDir: makeStaticDir(),
    cleanupAckTimeoutMs: 500,
    ...overrides,
  };
  const events: ServerEvent[] = [];
  // No frame policy unless a test asks (these tests check the transport itself; the forward
  // guard, the server's default, has its own tests: guard-policy*.test.ts).
  const relay = await startRelayServer({
    framePolicy: null,
    ...extra,
    config,
    onEvent: (e) => events.push(e),
  });
  return { relay, events };
}

/** A browser stand-in: a real `ws` client with a message queue. */
export class Browser {
  readonly ws: WebSocket;
  readonly frames: { data: Buffer; isBinary: boolean }[] = [];
  readonly opened: Promise<void>;
  readonly closed: Promise<{ code: number; reason: string }>;
  #listeners = new Set<() => void>();

  constructor(
    url: string,
    protocols: string[] = [RELAY_SUBPROTOCOL],
    opts: { perMessageDeflate?: boolean; origin?: string } = {},
  ) {
    this.ws = new WebSocket(url, protocols, {
      perMessageDeflate: opts.perMessageDeflate ?? false,
      ...(opts.origin !== undefined ? { origin: opts.origin } : {}),
    });
    this.ws.on('message', (data: Buffer, isBinary: boolean) => {
      this.frames.push({ data, isBinary });
      for (const l of [...this.#listeners]) l();
    });
    this.opened = new Promise((resolve, reject) => {
      this.ws.once('open', () => resolve());
      this.ws.once('error', reject);
      this.ws.once('unexpected-response', (_req, res) =>
        reject(new Error(`HTTP ${res.statusCode}`)),
      );
    });
    this.opened.catch(() => {});
    this.closed = new Promise((resolve) => {
      this.ws.on('close', (code: number, reason: Buffer) =>
        resolve({ code, reason: reason.toString() }),
      );
    });
    this.ws.on('error', () => {});
  }

  static async open(relay: RelayServer): Promise<Browser> {
    const b = new Browser(wsUrl(relay));
    await b.opened;
    return b;
  }

  send(bytes: Uint8Array | string, isBinary = true): void {
    this.ws.send(bytes, { binary: isBinary });
  }

  /** Waits for the n-th (0-based) frame. */
  async frame(n: number, timeoutMs = 3000): Promise<Buffer> {
    await new Promise<void>((resolve, reject) => {
      if (this.frames.length > n) return resolve();
      const timer = setTimeout(() => {
        this.#listeners.delete(check);
        reject(new Error(`browser: no frame #${n} within ${timeoutMs} ms`));
      }, timeoutMs);
      const check = () => {
        if (this.frames.length > n) {
          clearTimeout(timer);
          this.#listeners.delete(check);
          resolve();
        }
      };
      this.#listeners.add(check);
    });
    return (this.frames[n] as { data: Buffer }).data;
  }
}

export function wsUrl(relay: RelayServer): string {
  return `ws://127.0.0.1:${relay.address.port}${RELAY_PATH}`;
}

/**
 * A loopback TCP connection to `port` that never sends a byte (a peer stalled before its TLS
 * handshake, or a flood of them), resolved once connected; its errors are ignored.
 */
export async function silentPeer(port: number): Promise<net.Socket> {
  const s = net.connect({ host: '127.0.0.1', port });
  s.on('error', () => {});
  await new Promise<void>((resolve) => s.once('connect', () => resolve()));
  return s;
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Polls `predicate` every 10 ms until it holds; rejects after `timeoutMs`. */
export async function until(
  predicate: () => boolean,
  timeoutMs = 3000,
  what = 'condition',
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

/**
 * Session timers (RelayServerOptions.sessionTimers) that hold every timer of one duration
 * until the test releases it, and run the others on Node's clock: a test then decides when,
 * say, the guest-answer grace ends, instead of sleeping and hoping nothing happened meanwhile.
 */
export class HeldTimers implements SessionTimers {
  readonly heldMs: number;
  readonly held = new Map<number, () => void>();
  #nextId = 1;

  constructor(heldMs: number) {
    this.heldMs = heldMs;
  }

  set<A>(fn: (arg: A) => void, ms: number, arg: A): TimerHandle {
    if (ms !== this.heldMs) return NODE_TIMERS.set(fn, ms, arg);
    const id = this.#nextId++;
    this.held.set(id, () => fn(arg));
    return { held: id };
  }

  clear(handle: TimerHandle): void {
    if (typeof handle === 'object' && handle !== null && 'held' in handle)
      this.held.delete((handle as { held: number }).held);
    else NODE_TIMERS.clear(handle);
  }

  /** Runs every held timer now (as if its time had come). */
  release(): void {
    const due = [...this.held.values()];
    this.held.clear();
    for (const run of due) run();
  }
}
