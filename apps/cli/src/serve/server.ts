/**
 * The helper's WebSocket server: loopback only (the Host header checked against DNS
 * rebinding), one path, one subprotocol, a limit on connections; each connection is served by
 * connection.ts. Stopping closes every page with HELPER_STOPPING and lets go of the readers.
 */
import { createServer } from 'node:http';
import type { IncomingMessage, Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { WebSocketServer } from 'ws';
import {
  HELPER_CLOSE,
  HELPER_LIMITS,
  HELPER_PATH,
  HELPER_SUBPROTOCOL,
} from '@cardlend/helper-protocol';
import type { ConnectionGate } from '@cardlend/helper-protocol';
import type { HelperServerOptions } from './options.ts';
import { ReaderHub } from './reader-hub.ts';
import { serveConnection } from './connection.ts';
import type { ConnectionContext } from './connection.ts';
import { ReaderWatch } from './reader-watch.ts';

/** How long a closing page may take to answer the close, ms, before its socket is cut. */
const CLOSE_GRACE_MS = 1000;

/** A running helper server. */
export interface HelperServer {
  readonly port: number;
  readonly url: string;
  readonly hub: ReaderHub;
  /** Open connections. */
  connectionCount(): number;
  /** Closes every connection (HELPER_STOPPING), lets go of the readers, stops listening. */
  close(): Promise<void>;
}

/** Whether a handshake's Host names this helper on loopback (a DNS-rebinding page does not). */
export function isLoopbackHost(host: string | undefined, port: number): boolean {
  if (host === undefined) return false;
  return ['127.0.0.1', 'localhost', '[::1]'].some((h) => host.toLowerCase() === `${h}:${port}`);
}

function rejectUpgrade(socket: Duplex, status: string): void {
  socket.end(`HTTP/1.1 ${status}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
}

/** Starts the helper's server (see the module comment). */
export async function startHelperServer(opts: HelperServerOptions): Promise<HelperServer> {
  const limits = { ...HELPER_LIMITS, ...opts.limits };
  const hub = new ReaderHub(opts.service);
  const wss = new WebSocketServer({
    noServer: true,
    // ws refuses far larger frames itself (close 1009) before buffering them whole.
    maxPayload: limits.maxMessageBytes * 2,
    perMessageDeflate: false,
    handleProtocols: (protocols) =>
      protocols.has(HELPER_SUBPROTOCOL) ? HELPER_SUBPROTOCOL : false,
  });
  const http: Server = createServer((_req, res) => {
    res.writeHead(426, { 'content-type': 'text/plain' }).end('cardlend helper: WebSocket only\n');
  });
  const gates = new Set<ConnectionGate>();
  const notifiers = new Map<ConnectionGate, () => void>();
  const watch = new ReaderWatch({
    service: opts.service,
    isWanted: () => [...gates].some((g) => g.isApproved),
    onChange: () => {
      for (const notify of notifiers.values()) notify();
    },
    intervalMs: opts.watchIntervalMs ?? 1500,
  });
  const releases = new Set<Promise<void>>();
  const sockets = new Set<Duplex>();
  let isClosing = false;
  let nextId = 1;
  let port = 0;
  const context: ConnectionContext = {
    opts,
    limits,
    hub,
    gates,
    notifiers,
    releases,
    nextId: () => nextId++,
  };

  http.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    socket.on('error', () => undefined);
    if (isClosing) return rejectUpgrade(socket, '503 Service Unavailable');
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    if (!isLoopbackHost(req.headers.host, port)) return rejectUpgrade(socket, '403 Forbidden');
    if ((req.url ?? '').split('?')[0] !== HELPER_PATH)
      return rejectUpgrade(socket, '404 Not Found');
    wss.handleUpgrade(req, socket, head, (ws) => serveConnection(ws, req, context));
  });

  await new Promise<void>((resolve, reject) => {
    http.once('error', reject);
    http.listen({ host: opts.host, port: opts.port, exclusive: true }, () => resolve());
  });
  port = (http.address() as AddressInfo).port;
  const hostText = opts.host === '::1' ? '[::1]' : opts.host;
  return {
    port,
    url: `ws://${hostText}:${port}${HELPER_PATH}`,
    hub,
    connectionCount: () => gates.size,
    close: async () => {
      isClosing = true;
      watch.stop();
      const closed = [...wss.clients].map(
        (ws) => new Promise<void>((resolve) => ws.once('close', () => resolve())),
      );
      for (const ws of wss.clients) ws.close(HELPER_CLOSE.STOPPING, 'HELPER_STOPPING');
      const timer = setTimeout(() => {
        for (const ws of wss.clients) ws.terminate();
      }, CLOSE_GRACE_MS);
      await Promise.all(closed);
      clearTimeout(timer);
      for (const socket of sockets) socket.destroy(); // handshakes still under way
      await Promise.all(releases);
      wss.close();
      await new Promise<void>((resolve) => http.close(() => resolve()));
    },
  };
}
