/**
 * The relay's HTTP server: the built web app on every path but one, and the VSCard WebSocket
 * endpoint at `RELAY_PATH` (browser ⇄ relay contract, notes/contracts.md). Each WebSocket
 * gets one TCP connection to the target chosen by the configuration — never by the browser —
 * and at most one browser session exists per target (QEMU serves one client at a time, §1).
 */
import http from 'node:http';
import net from 'node:net';
import type { Duplex } from 'node:stream';
import {
  RELAY_PATH,
  RELAY_SUBPROTOCOL,
  RelayClose,
  VSCARD_HEADER_BYTES,
  VSCARD_MAX_PAYLOAD_BYTES,
} from '@cardlend/vscard';
import { WebSocketServer, type WebSocket } from 'ws';
import type { HostPort, RelayConfig } from './config.ts';
import { RelayError } from './errors.ts';
import { clampReason, RelaySession, type SessionEnd, type SessionEvent } from './relay.ts';
import { createStaticHandler } from './static-files.ts';

/** Events for logs (main.ts prints them; tests may collect them). */
export type ServerEvent =
  | { kind: 'session-start'; sessionId: number; target: string; remote: string }
  | { kind: 'session-end'; sessionId: number; target: string; end: SessionEnd }
  | { kind: 'session-event'; sessionId: number; event: SessionEvent }
  | { kind: 'refused'; target: string; remote: string; closeCode: number; reason: string }
  | { kind: 'upgrade-refused'; status: number; reason: string; remote: string }
  | { kind: 'server-error'; message: string };

export interface RelayServerOptions {
  config: RelayConfig;
  onEvent?: (e: ServerEvent) => void;
}

/** A running relay. */
export interface RelayServer {
  /** The bound address (port resolved when the config asked for 0). */
  readonly address: HostPort;
  /** `http://host:port/` of the page. */
  readonly url: string;
  /** Live sessions by target id. */
  readonly sessions: ReadonlyMap<string, RelaySession>;
  /** Stops listening, ends every session (browser gets 1001, VM gets its cleanup), resolves when all are done. */
  close(): Promise<void>;
}

/** Largest WebSocket message: one whole VSCard message (12 + 65524 bytes). */
export const MAX_FRAME_BYTES = VSCARD_HEADER_BYTES + VSCARD_MAX_PAYLOAD_BYTES;

interface TargetSlot {
  state: 'connecting' | 'active';
  session: RelaySession | undefined;
  done: Promise<void>;
  hasWaiter: boolean;
}

function remoteOf(req: http.IncomingMessage): string {
  const s = req.socket;
  return `${s.remoteAddress ?? '?'}:${s.remotePort ?? '?'}`;
}

function refuseUpgrade(socket: Duplex, status: number, message: string): void {
  const body = message + '\n';
  socket.end(
    `HTTP/1.1 ${status} ${http.STATUS_CODES[status] ?? ''}\r\n` +
      'Connection: close\r\nContent-Type: text/plain; charset=utf-8\r\n' +
      `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
  );
  socket.on('error', () => {});
}

function formatUrl({ host, port }: HostPort): string {
  const h = host.includes(':')
    ? `[${host}]`
    : host === '0.0.0.0'
      ? '127.0.0.1'
      : host === '::'
        ? '[::1]'
        : host;
  return `http://${h}:${port}/`;
}

/** Starts listening; rejects with `RELAY_LISTEN_FAILED` if the address cannot be bound. */
export async function startRelayServer(opts: RelayServerOptions): Promise<RelayServer> {
  const { config } = opts;
  const emit = opts.onEvent ?? (() => {});
  const serveStatic = createStaticHandler(config.staticDir);
  const slots = new Map<string, TargetSlot>();
  const sessions = new Map<string, RelaySession>();
  let nextSessionId = 1;
  let isClosing = false;

  const httpServer = http.createServer((req, res) => {
    serveStatic(req, res).catch((e: unknown) => {
      emit({ kind: 'server-error', message: `static: ${(e as Error).message}` });
      if (!res.headersSent) res.writeHead(500);
      res.end();
    });
  });
  httpServer.on('clientError', (_e, socket) => socket.destroy());

  const wss = new WebSocketServer({
    noServer: true,
    perMessageDeflate: false,
    maxPayload: MAX_FRAME_BYTES,
    clientTracking: true,
    handleProtocols: (protocols) => (protocols.has(RELAY_SUBPROTOCOL) ? RELAY_SUBPROTOCOL : false),
  });
  wss.on('error', (e) => emit({ kind: 'server-error', message: e.message }));

  httpServer.on('upgrade', (req, socket, head) => {
    socket.on('error', () => {});
    const remote = remoteOf(req);
    const pathname = (req.url ?? '').split('?')[0];
    if (pathname !== RELAY_PATH) {
      emit({ kind: 'upgrade-refused', status: 404, reason: 'wrong path', remote });
      refuseUpgrade(socket, 404, `The VSCard WebSocket endpoint is ${RELAY_PATH}.`);
      return;
    }
    if (isClosing) {
      refuseUpgrade(socket, 503, 'The relay is shutting down.');
      return;
    }
    const offered = (req.headers['sec-websocket-protocol'] ?? '').split(',').map((p) => p.trim());
    if (!offered.includes(RELAY_SUBPROTOCOL)) {
      emit({ kind: 'upgrade-refused', status: 400, reason: 'missing subprotocol', remote });
      refuseUpgrade(socket, 400, `Request the WebSocket subprotocol "${RELAY_SUBPROTOCOL}".`);
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => {
      void onConnection(ws, req).catch((e: unknown) => {
        emit({ kind: 'server-error', message: `session: ${(e as Error).message}` });
        ws.terminate();
      });
    });
  });

  async function onConnection(ws: WebSocket, req: http.IncomingMessage): Promise<void> {
    const remote = remoteOf(req);
    // Hold the browser's frames until the VM connection exists.
    ws.pause();
    ws.on('error', () => {});
    const targetId = config.defaultTarget;
    const target = config.targets[targetId] as HostPort;
    const refuse = (code: number, reason: string) => {
      emit({ kind: 'refused', target: targetId, remote, closeCode: code, reason });
      // Read again so the close handshake can complete; frames of a refused session are ignored.
      ws.resume();
      ws.close(code, clampReason(reason));
      setTimeout(() => ws.terminate(), 2000).unref();
    };
    const existing = slots.get(targetId);
    if (existing) {
      // A session that is only removing the card from the VM ends within the cleanup bounds:
      // let one newcomer (a reload, a reconnect) wait for it instead of refusing.
      const isEnding = existing.state === 'active' && existing.session?.phase !== 'open';
      if (!isEnding || existing.hasWaiter) {
        refuse(RelayClose.VM_IN_USE, 'Another browser is already lending a card to this VM.');
        return;
      }
      existing.hasWaiter = true;
      await existing.done;
      if (slots.has(targetId) || ws.readyState !== ws.OPEN) {
        refuse(RelayClose.VM_IN_USE, 'Another browser is already lending a card to this VM.');
        return;
      }
    }
    let release: () => void = () => {};
    const slot: TargetSlot = {
      state: 'connecting',
      session: undefined,
      done: new Promise<void>((resolve) => (release = resolve)),
      hasWaiter: false,
    };
    slots.set(targetId, slot);
    const free = () => {
      if (slots.get(targetId) === slot) slots.delete(targetId);
      release();
    };
    let tcp: net.Socket;
    try {
      tcp = await connectTcp(target, config.connectTimeoutMs, ws);
    } catch (e) {
      free();
      const why = (e as NodeJS.ErrnoException).code ?? (e as Error).message;
      refuse(
        RelayClose.VM_UNREACHABLE,
        `The relay cannot reach the VM (${why}). Is the VM running?`,
      );
      return;
    }
    if (ws.readyState !== ws.OPEN) {
      tcp.destroy();
      free();
      return;
    }
    const sessionId = nextSessionId++;
    const session = new RelaySession({
      ws,
      tcp,
      cleanupAckTimeoutMs: config.cleanupAckTimeoutMs,
      maxBufferedToBrowserBytes: config.maxBufferedToBrowserBytes,
      onEvent: (event) => emit({ kind: 'session-event', sessionId, event }),
    });
    slot.state = 'active';
    slot.session = session;
    sessions.set(targetId, session);
    emit({ kind: 'session-start', sessionId, target: targetId, remote });
    ws.resume();
    const end = await session.done;
    if (sessions.get(targetId) === session) sessions.delete(targetId);
    free();
    emit({ kind: 'session-end', sessionId, target: targetId, end });
  }

  await new Promise<void>((resolve, reject) => {
    const onError = (e: NodeJS.ErrnoException) => {
      reject(
        new RelayError(
          'RELAY_LISTEN_FAILED',
          `cannot listen on ${config.listen.host}:${config.listen.port} (${e.code ?? e.message})`,
          { cause: e },
        ),
      );
    };
    httpServer.once('error', onError);
    httpServer.listen({ host: config.listen.host, port: config.listen.port }, () => {
      httpServer.off('error', onError);
      httpServer.on('error', (e) => emit({ kind: 'server-error', message: e.message }));
      resolve();
    });
  });
  const bound = httpServer.address() as net.AddressInfo;
  const address = { host: config.listen.host, port: bound.port };

  return {
    address,
    url: formatUrl(address),
    sessions,
    async close(): Promise<void> {
      isClosing = true;
      const pending = [...slots.values()].map((s) => s.done);
      for (const s of sessions.values())
        s.close(RelayClose.GOING_AWAY, 'The relay is shutting down.');
      for (const ws of wss.clients) {
        if (ws.readyState === ws.OPEN) {
          ws.resume();
          ws.close(RelayClose.GOING_AWAY, 'The relay is shutting down.');
        }
      }
      await Promise.all(pending);
      // Browsers that do not finish the close handshake in time are cut off.
      const deadline = Date.now() + 2000;
      while (wss.clients.size > 0 && Date.now() < deadline)
        await new Promise((r) => setTimeout(r, 20));
      for (const ws of wss.clients) ws.terminate();
      await new Promise<void>((resolve) => {
        httpServer.close(() => resolve());
        httpServer.closeAllConnections();
      });
      wss.close();
    },
  };
}

/** Connects to the VM; fails on error, timeout, or the browser leaving first. */
function connectTcp(target: HostPort, timeoutMs: number, ws: WebSocket): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const tcp = net.connect({ host: target.host, port: target.port });
    tcp.setNoDelay(true);
    const timer = setTimeout(
      () => fail(Object.assign(new Error('connect timeout'), { code: 'ETIMEDOUT' })),
      timeoutMs,
    );
    const onWsClose = () => fail(new Error('browser left'));
    const fail = (e: Error) => {
      clearTimeout(timer);
      ws.off('close', onWsClose);
      tcp.destroy();
      reject(e);
    };
    tcp.once('error', fail);
    ws.once('close', onWsClose);
    tcp.once('connect', () => {
      clearTimeout(timer);
      tcp.off('error', fail);
      ws.off('close', onWsClose);
      resolve(tcp);
    });
  });
}
