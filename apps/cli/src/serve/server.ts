/**
 * The helper's WebSocket server: loopback only, one path, one subprotocol. Each connection
 * gets a ConnectionGate (@cardlend/helper-protocol) that decides everything; this file moves
 * frames, carries out the gate's actions (send, close, reader requests through the ReaderHub,
 * pairing in the terminal) and counts connections.
 */
import { createServer } from 'node:http';
import type { IncomingMessage, Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { WebSocketServer } from 'ws';
import type { RawData, WebSocket } from 'ws';
import {
  ConnectionGate,
  encodeMessage,
  HELPER_CLOSE,
  HELPER_LIMITS,
  HELPER_PATH,
  HELPER_SUBPROTOCOL,
} from '@cardlend/helper-protocol';
import type {
  GateAction,
  HelperErrorCode,
  HelperLimits,
  WebOrigin,
} from '@cardlend/helper-protocol';
import type { ApprovalStore } from './approvals.ts';
import type { Pairing } from './pairing.ts';
import { ReaderHub, toRefusal } from './reader-hub.ts';
import type { HubClient } from './reader-hub.ts';
import type { ReaderService } from '../ports.ts';

/** How long a closing page may take to answer the close, ms, before its socket is cut. */
const CLOSE_GRACE_MS = 1000;

/** Loopback addresses the helper may listen on. */
export const LOOPBACK_HOSTS = ['127.0.0.1', '::1'] as const;
export type LoopbackHost = (typeof LOOPBACK_HOSTS)[number];

/** Options of {@link startHelperServer}. */
export interface HelperServerOptions {
  readonly host: LoopbackHost;
  /** 0 picks a free port. */
  readonly port: number;
  readonly service: () => Promise<ReaderService>;
  readonly approvals: ApprovalStore;
  readonly pairing: Pairing;
  /** `cardlend <version>`, sent in hello. */
  readonly helperName: string;
  readonly now: () => number;
  /** One line per notable event (refusals, pairings, readers taken), for the terminal. */
  readonly log: (line: string) => void;
  readonly limits?: Partial<HelperLimits>;
}

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

function frameOf(data: RawData, isBinary: boolean): { text: string } | { binaryBytes: number } {
  const bytes = Array.isArray(data)
    ? data.reduce((n, b) => n + b.length, 0)
    : data instanceof ArrayBuffer
      ? data.byteLength
      : data.length;
  if (isBinary) return { binaryBytes: bytes };
  if (bytes > HELPER_LIMITS.maxMessageBytes) return { binaryBytes: bytes };
  return {
    text: Buffer.isBuffer(data)
      ? data.toString('utf8')
      : Buffer.from(data as ArrayBuffer).toString('utf8'),
  };
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
  const releases = new Set<Promise<void>>();
  const sockets = new Set<Duplex>();
  let isClosing = false;
  let nextId = 1;
  let port = 0;

  http.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    socket.on('error', () => undefined);
    if (isClosing) return rejectUpgrade(socket, '503 Service Unavailable');
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    if (!isLoopbackHost(req.headers.host, port)) return rejectUpgrade(socket, '403 Forbidden');
    if ((req.url ?? '').split('?')[0] !== HELPER_PATH)
      return rejectUpgrade(socket, '404 Not Found');
    wss.handleUpgrade(req, socket, head, (ws) => accept(ws, req));
  });

  function accept(ws: WebSocket, req: IncomingMessage): void {
    ws.on('error', () => undefined);
    if (gates.size >= limits.maxConnections) {
      opts.log(`refused a connection: too many (${gates.size} open)`);
      ws.close(HELPER_CLOSE.TOO_MANY_CONNECTIONS, 'HELPER_TOO_MANY_CONNECTIONS');
      return;
    }
    if (ws.protocol !== HELPER_SUBPROTOCOL) {
      ws.close(HELPER_CLOSE.VERSION, 'HELPER_VERSION');
      return;
    }
    const gate = new ConnectionGate({
      originHeader: req.headers.origin,
      isApproved: (o) => opts.approvals.isApproved(o.text),
      helper: opts.helperName,
      nowMs: opts.now(),
      limits,
    });
    gates.add(gate);
    const abort = new AbortController();
    const client: HubClient = { id: nextId++, notify: (m) => run(gate.notify(m)) };
    const run = (actions: GateAction[]): void => {
      for (const a of actions) act(a);
    };
    const act = (a: GateAction): void => {
      if (a.type === 'send') {
        if (ws.readyState === ws.OPEN) ws.send(encodeMessage(a.message));
      } else if (a.type === 'close') {
        opts.log(`closed a connection from ${gate.origin?.text ?? '(no origin)'}: ${a.reason}`);
        ws.close(a.code, a.reason);
      } else if (a.type === 'pair') pair(a.id, a.origin);
      else
        hub.handle(client, a.message).then(
          (result) => run(gate.answer(a.message.id, result)),
          (e: unknown) => {
            const r = toRefusal(e);
            run(gate.fail(a.message.id, r.code, r.message));
          },
        );
    };
    const pair = (id: number, origin: WebOrigin): void => {
      const asked = opts.pairing.ask(origin.text, abort.signal);
      if (typeof asked === 'string') return fail(id, asked, 'pairing not possible now');
      opts.log(`pairing asked by ${origin.text} (code ${asked.code})`);
      run(gate.pairing(asked.code));
      void asked.outcome.then((outcome) => {
        if (outcome !== 'approved') return fail(id, outcome, 'pairing refused');
        opts.approvals.approve(origin.text);
        opts.log(`approved ${origin.text}`);
        run(gate.answer(id, { approved: true }));
      });
    };
    const fail = (id: number, code: HelperErrorCode, message: string): void =>
      run(gate.fail(id, code, message));
    ws.on('message', (data, isBinary) => run(gate.receive(frameOf(data, isBinary), opts.now())));
    ws.on('close', () => {
      gate.closed();
      gates.delete(gate);
      abort.abort();
      const released = hub.releaseAll(client);
      releases.add(released);
      void released.finally(() => releases.delete(released));
    });
    run(gate.open());
  }

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
