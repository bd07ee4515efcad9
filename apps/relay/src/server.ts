/**
 * The relay's HTTP server: the built web app on every path but a few, the operations
 * endpoints (`/healthz`, `/readyz`, `/metrics`), and the VSCard WebSocket endpoint at
 * `RELAY_PATH` (browser ⇄ relay contract, notes/contracts.md).
 *
 * Admission of a WebSocket, in order: path and subprotocol (HTTP 404/400), then — with the
 * upgrade done so the page gets a close code it can show — Origin allowlist, session caps
 * (global, per address), the session token (subprotocol `cardlend.token.<t>` or a first text
 * message `{"token": ...}` within `authTimeoutMs`; only when secrets are configured), the
 * token ledger (single use / one live session), and finally one browser per VM target. The
 * target always comes from the configuration (the token names a target id), never from the
 * browser. Each admitted session gets one TCP connection to that target.
 */
import { readFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import type { Duplex } from 'node:stream';
import {
  RELAY_PATH,
  RELAY_SUBPROTOCOL,
  RelayClose,
  VSCARD_HEADER_BYTES,
  VSCARD_MAX_GUEST_COMMAND_BYTES,
  VSCARD_MAX_PAYLOAD_BYTES,
} from '@cardlend/vscard';
import { WebSocketServer, type RawData, type WebSocket } from 'ws';
import { parseTrustedProxies, resolveClientAddress } from './auth/forwarded.ts';
import {
  armAuthDeadline,
  createOriginPolicy,
  extractTokenFromProtocols,
  isLoopbackHost,
  parseAuthMessage,
} from './auth/origin.ts';
import { TokenLedger, verifyToken, type TokenLease } from './auth/tokens.ts';
import type { HostPort, RelayConfig, TargetConfig } from './config.ts';
import { DialInPort, type DialInConnection, type DialInEvent } from './dial-in.ts';
import { DialInTlsListener } from './dial-in-tls.ts';
import { RelayError } from './errors.ts';
import {
  HeartbeatManager,
  type HeartbeatExpiry,
  type HeartbeatHandle,
  type HeartbeatPeer,
} from './limits/heartbeat.ts';
import { applyHttpLimits, httpServerOptions } from './limits/http-limits.ts';
import { refusalClose, refusalForToken, type RefusalKind } from './limits/refusals.ts';
import { SessionCaps, type SessionSlot } from './limits/session-caps.ts';
import { createOpsHandler, Readiness } from './ops/http.ts';
import type { AuditLog, SessionStartAudit } from './ops/logger.ts';
import type { RelayMetrics } from './ops/metrics.ts';
import {
  RelaySession,
  type SessionEnd,
  type SessionEvent,
  type SessionHandler,
  type SessionObserver,
} from './relay.ts';
import { createStaticHandler } from './static-files.ts';

/** Events for logs (main.ts prints them; tests may collect them). Never payloads or tokens. */
export type ServerEvent =
  | { kind: 'session-start'; sessionId: number; target: string; remote: string }
  | { kind: 'session-end'; sessionId: number; target: string; end: SessionEnd }
  | { kind: 'session-event'; sessionId: number; event: SessionEvent }
  | {
      kind: 'refused';
      target: string;
      remote: string;
      closeCode: number;
      reason: string;
      /** The refusal kind (limits/refusals.ts), when it is one of them. */
      refusal?: RefusalKind;
    }
  | { kind: 'upgrade-refused'; status: number; reason: string; remote: string }
  | { kind: 'server-error'; message: string }
  /**
   * A dial-in VM connection's event. `target` is undefined for connections to the shared TLS
   * listener that name no target (failed handshake, unknown certificate): those are refused.
   */
  | { kind: 'dial-in'; target: string | undefined; event: DialInEvent };

export interface RelayServerOptions {
  config: RelayConfig;
  onEvent?: (e: ServerEvent) => void;
  /** Prometheus metrics (ops/metrics.ts); `/metrics` is served when given. */
  metrics?: RelayMetrics;
  /** JSON audit trail (ops/logger.ts). */
  audit?: AuditLog;
  /** Wall clock for token expiry, unix ms. Default `Date.now`. */
  now?: () => number;
}

/** A running relay. */
export interface RelayServer {
  /** The bound address (port resolved when the config asked for 0). */
  readonly address: HostPort;
  /** `http://host:port/` of the page. */
  readonly url: string;
  /** Live sessions by target id. */
  readonly sessions: ReadonlyMap<string, RelaySession>;
  /** `/readyz` state. */
  readonly readiness: Readiness;
  /** Bound dial-in ports by target id (for per-VM-port dial-in targets). */
  readonly dialInPorts: ReadonlyMap<string, number>;
  /** The shared TLS listener for dial-in VMs (config `vmTls`), when configured. */
  readonly vmTlsAddress: HostPort | undefined;
  /** TCP connections the VM TLS listener holds now (0 without one). */
  readonly vmTlsConnections: number;
  /**
   * Re-reads the TLS certificate and key of the listener and of the VM TLS listener (its CA
   * too) (SIGHUP); new connections use them, live ones keep theirs. Throws
   * `RELAY_CONFIG_INVALID` (and keeps all the old ones) if any cannot be loaded. No-op without
   * TLS.
   */
  reloadTls(): void;
  /** Stops accepting, ends every session (browser gets 1001, VM gets its cleanup), resolves when all are done. */
  close(): Promise<void>;
}

/** Largest WebSocket message from the browser: one whole client message (12 + 65524 bytes). */
export const MAX_FRAME_BYTES = VSCARD_HEADER_BYTES + VSCARD_MAX_PAYLOAD_BYTES;

/**
 * Largest WebSocket message to the browser: one whole guest command (12 + 65526 bytes,
 * `VSCARD_MAX_GUEST_COMMAND_BYTES`), 2 bytes more than {@link MAX_FRAME_BYTES}.
 */
export const MAX_FRAME_TO_BROWSER_BYTES = VSCARD_HEADER_BYTES + VSCARD_MAX_GUEST_COMMAND_BYTES;

/** Frames held while a session is being admitted (auth, VM connect): at most this many. */
const MAX_EARLY_FRAMES = 32;

/** One VM target in use. Waiters (a newcomer, shutdown) are callbacks, made only when needed. */
interface TargetSlot {
  state: 'connecting' | 'active';
  session: RelaySession | undefined;
  waiters: (() => void)[] | undefined;
  isFree: boolean;
  hasWaiter: boolean;
}

/** Resolves when the slot is freed. */
function slotFreed(slot: TargetSlot): Promise<void> {
  if (slot.isFree) return Promise.resolve();
  return new Promise((resolve) => (slot.waiters ??= []).push(resolve));
}

/** What admission needs of the upgrade request; the request itself is not kept. */
interface UpgradeInfo {
  clientAddress: string;
  remote: string;
  origin: string | undefined;
  host: string | undefined;
  protocols: string | undefined;
}

function noop(): void {}

function refuseUpgrade(socket: Duplex, status: number, message: string): void {
  const body = message + '\n';
  socket.end(
    `HTTP/1.1 ${status} ${http.STATUS_CODES[status] ?? ''}\r\n` +
      'Connection: close\r\nContent-Type: text/plain; charset=utf-8\r\n' +
      `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
  );
}

function formatUrl({ host, port }: HostPort, isTls: boolean): string {
  const h =
    host === '0.0.0.0'
      ? '127.0.0.1'
      : host === '::'
        ? '[::1]'
        : host.includes(':')
          ? `[${host}]`
          : host;
  return `${isTls ? 'https' : 'http'}://${h}:${port}/`;
}

function toBuffer(data: RawData): Buffer {
  if (Buffer.isBuffer(data)) return data;
  if (Array.isArray(data)) return Buffer.concat(data);
  return Buffer.from(data);
}

function frameBytes(data: RawData): number {
  if (Array.isArray(data)) return data.reduce((n, b) => n + b.length, 0);
  return data.byteLength;
}

/** Starts listening; rejects with `RELAY_LISTEN_FAILED` if the address cannot be bound. */
export async function startRelayServer(opts: RelayServerOptions): Promise<RelayServer> {
  const { config, metrics, audit } = opts;
  const emit = opts.onEvent ?? (() => {});
  const now = opts.now ?? Date.now;
  const serveStatic = createStaticHandler(config.staticDir);
  const readiness = new Readiness();
  const ops = metrics ? createOpsHandler({ registry: metrics.registry, readiness }) : undefined;
  const originPolicy = createOriginPolicy({
    allowedOrigins: config.allowedOrigins,
    isLoopbackListener: isLoopbackHost(config.listen.host),
  });
  const caps = new SessionCaps({
    maxSessions: config.maxSessions,
    maxSessionsPerAddress: config.maxSessionsPerAddress,
  });
  const ledger = new TokenLedger();
  const heartbeat = new HeartbeatManager({
    pingIntervalMs: config.pingIntervalMs,
    idleTimeoutMs: config.idleTimeoutMs,
    onError: (e) => emit({ kind: 'server-error', message: `heartbeat: ${(e as Error).message}` }),
  });
  const dialIns = new Map<string, DialInPort>();
  /** Where each dial-in target's VM connection is taken from (per-VM port or TLS listener). */
  const dialInSources = new Map<
    string,
    { take(timeoutMs: number, signal?: AbortSignal): Promise<DialInConnection> }
  >();
  const vmTls = config.vmTls
    ? new DialInTlsListener({
        config: config.vmTls,
        targets: Object.entries(config.targets).flatMap(([id, t]) =>
          t.vmCert ? [[id, t.vmCert] as const] : [],
        ),
        onTargetEvent: (target, event) => emit({ kind: 'dial-in', target, event }),
        onEvent: (event) => emit({ kind: 'dial-in', target: undefined, event }),
      })
    : undefined;
  try {
    for (const [id, t] of Object.entries(config.targets)) {
      if (!t.isDialIn) continue;
      const slot = vmTls?.slot(id);
      if (slot) {
        dialInSources.set(id, slot);
        continue;
      }
      const port = new DialInPort({
        listen: t,
        onEvent: (event) => emit({ kind: 'dial-in', target: id, event }),
      });
      await port.start();
      dialIns.set(id, port);
      dialInSources.set(id, port);
    }
    await vmTls?.start();
  } catch (e) {
    await Promise.all([...dialIns.values()].map((p) => p.close()));
    throw e;
  }
  const slots = new Map<string, TargetSlot>();
  const sessions = new Map<string, RelaySession>();
  let nextSessionId = 1;
  let isClosing = false;

  const trustedProxies = parseTrustedProxies(config.trustedProxies);
  const loadTls = (): { cert: Buffer; key: Buffer } => {
    const tls = config.tls as { certFile: string; keyFile: string };
    try {
      return { cert: readFileSync(tls.certFile), key: readFileSync(tls.keyFile) };
    } catch (e) {
      throw new RelayError(
        'RELAY_CONFIG_INVALID',
        `cannot load TLS files: ${(e as Error).message}`,
        { cause: e },
      );
    }
  };
  const onRequest = (req: http.IncomingMessage, res: http.ServerResponse): void => {
    if (!ops || !ops(req, res)) {
      // Without metrics, /healthz and /readyz are still answered.
      const path = (req.url ?? '/').split('?', 1)[0];
      if (path === '/healthz' || path === '/readyz') {
        const isOk = path === '/healthz' || readiness.isReady;
        res.writeHead(isOk ? 200 : 503, {
          'Content-Type': 'text/plain; charset=utf-8',
          'Cache-Control': 'no-store',
        });
        res.end(isOk ? 'ok\n' : `${readiness.state}\n`);
        return;
      }
      serveStatic(req, res).catch((e: unknown) => {
        emit({ kind: 'server-error', message: `static: ${(e as Error).message}` });
        if (!res.headersSent) res.writeHead(500);
        res.end();
      });
    }
  };
  const httpServer: http.Server = config.tls
    ? https.createServer({ ...httpServerOptions(config.http), ...loadTls() }, onRequest)
    : http.createServer(httpServerOptions(config.http), onRequest);
  applyHttpLimits(httpServer, config.http);
  httpServer.on('clientError', (_e, socket) => socket.destroy());

  const wss = new WebSocketServer({
    noServer: true,
    perMessageDeflate: false,
    maxPayload: MAX_FRAME_BYTES,
    // Tracked below with one shared listener instead of ws's closure per connection.
    clientTracking: false,
    // Select cardlend.vscard.v1; a token subprotocol is never echoed (auth/origin.ts).
    handleProtocols: (protocols) => (protocols.has(RELAY_SUBPROTOCOL) ? RELAY_SUBPROTOCOL : false),
  });
  wss.on('error', (e) => emit({ kind: 'server-error', message: e.message }));
  /** Every upgraded WebSocket until it closes (sessions, and those being admitted or refused). */
  const clients = new Set<WebSocket>();
  function untrackClient(this: WebSocket): void {
    clients.delete(this);
  }

  httpServer.on('upgrade', (req, socket, head) => {
    socket.on('error', noop);
    const remote = `${req.socket.remoteAddress ?? '?'}:${req.socket.remotePort ?? '?'}`;
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
    if (!extractTokenFromProtocols(req.headers['sec-websocket-protocol']).hasVscardProtocol) {
      emit({ kind: 'upgrade-refused', status: 400, reason: 'missing subprotocol', remote });
      refuseUpgrade(socket, 400, `Request the WebSocket subprotocol "${RELAY_SUBPROTOCOL}".`);
      return;
    }
    // The peer, or — only behind a configured trusted proxy — the forwarded client.
    const clientAddress = resolveClientAddress({
      peerAddress: req.socket.remoteAddress,
      headers: req.headers,
      trustedProxies,
    });
    const info: UpgradeInfo = {
      clientAddress,
      remote: `${clientAddress}:${req.socket.remotePort ?? '?'}`,
      origin: typeof req.headers.origin === 'string' ? req.headers.origin : undefined,
      host: req.headers.host,
      protocols: req.headers['sec-websocket-protocol'],
    };
    wss.handleUpgrade(req, socket, head, (ws) => {
      // ws handles the socket's errors from here on.
      socket.off('error', noop);
      clients.add(ws);
      ws.once('close', untrackClient);
      void admit(ws, info).catch((e: unknown) => {
        emit({ kind: 'server-error', message: `session: ${(e as Error).message}` });
        ws.terminate();
      });
    });
  });

  async function admit(ws: WebSocket, info: UpgradeInfo): Promise<void> {
    const { clientAddress, remote, origin } = info;
    ws.on('error', noop);
    // Hold frames that arrive while the session is admitted; they are replayed in order.
    const early: { data: RawData; isBinary: boolean }[] = [];
    let onAuthFrame: ((data: RawData, isBinary: boolean) => void) | undefined;
    let targetId = config.defaultTarget;
    const releases: (() => void)[] = [];
    const releaseAll = () => {
      for (const r of releases.splice(0)) r();
    };
    let isRefused = false;
    const refuse = (kind: RefusalKind, detail?: string) => {
      if (isRefused) return;
      isRefused = true;
      releaseAll();
      const { code, reason } = refusalClose(kind, detail);
      emit({ kind: 'refused', target: targetId, remote, closeCode: code, reason, refusal: kind });
      metrics?.refused(kind);
      audit?.refusal({
        kind,
        clientAddress,
        targetId,
        ...(origin !== undefined ? { origin } : {}),
      });
      // Read again so the close handshake can complete; frames of a refused session are ignored.
      ws.off('message', onEarly);
      ws.resume();
      ws.close(code, reason);
      setTimeout(() => ws.terminate(), 2000).unref();
    };
    const onEarly = (data: RawData, isBinary: boolean) => {
      if (onAuthFrame) {
        onAuthFrame(data, isBinary);
        return;
      }
      early.push({ data, isBinary });
      if (
        early.length > MAX_EARLY_FRAMES ||
        early.reduce((n, f) => n + frameBytes(f.data), 0) > 2 * MAX_FRAME_BYTES
      ) {
        refuse('message-rate');
      }
    };
    ws.on('message', onEarly);
    ws.once('close', releaseAll);

    const originDecision = originPolicy.check({ origin, host: info.host });
    if (!originDecision.ok) return refuse(originDecision.reason);
    const cap = caps.tryAcquire(clientAddress);
    if (!cap.ok) return refuse(cap.reason);
    const capSlot: SessionSlot = cap.slot;
    releases.push(() => capSlot.release());

    let lease: TokenLease | undefined;
    if (config.tokenSecrets.length > 0) {
      const offered = extractTokenFromProtocols(info.protocols);
      let token: string | null = offered.token;
      if (offered.hasSeveralTokens) return refuse('token-malformed');
      if (token === null) {
        // First-message authentication: one text frame {"token": "..."} before the deadline.
        let onAuthClose: (() => void) | undefined;
        const got = await new Promise<string | RefusalKind>((resolve) => {
          const deadline = armAuthDeadline({
            timeoutMs: config.authTimeoutMs,
            onExpire: () => resolve('auth-timeout'),
          });
          onAuthFrame = (data, isBinary) => {
            onAuthFrame = undefined;
            if (!deadline.settle()) return;
            const parsed = parseAuthMessage(toBuffer(data), isBinary);
            resolve(parsed.ok ? parsed.token : 'token-missing');
          };
          onAuthClose = () => {
            deadline.settle();
            resolve('token-missing');
          };
          ws.once('close', onAuthClose);
        });
        if (onAuthClose) ws.off('close', onAuthClose);
        if (ws.readyState !== ws.OPEN) return releaseAll();
        if (got === 'auth-timeout' || got === 'token-missing') return refuse(got);
        token = got;
      }
      const verdict = verifyToken({
        token,
        secrets: config.tokenSecrets,
        nowMs: now(),
        isKnownTarget: (id) => Object.hasOwn(config.targets, id),
      });
      if (!verdict.ok) return refuse(refusalForToken(verdict.reason));
      targetId = verdict.claims.tid;
      const claim = ledger.claim({ claims: verdict.claims, nowMs: now() });
      if (!claim.ok) return refuse(refusalForToken(claim.reason));
      lease = claim.lease;
      releases.push(() => lease?.release());
    }
    // Hold the browser's frames until the VM connection exists.
    ws.pause();
    await runSession(
      ws,
      targetId,
      remote,
      clientAddress,
      origin,
      early,
      refuse,
      releaseAll,
      onEarly,
      capSlot,
      lease,
    );
  }

  async function runSession(
    ws: WebSocket,
    targetId: string,
    remote: string,
    clientAddress: string,
    origin: string | undefined,
    early: { data: RawData; isBinary: boolean }[],
    refuse: (kind: RefusalKind, detail?: string) => void,
    releaseAll: () => void,
    onEarly: (data: RawData, isBinary: boolean) => void,
    capSlot: SessionSlot,
    lease: TokenLease | undefined,
  ): Promise<void> {
    const target = config.targets[targetId] as TargetConfig;
    const existing = slots.get(targetId);
    if (existing) {
      // A session that is only removing the card from the VM ends within the cleanup bounds:
      // let one newcomer (a reload, a reconnect) wait for it instead of refusing.
      const isEnding = existing.state === 'active' && existing.session?.phase !== 'open';
      if (!isEnding || existing.hasWaiter) return refuse('vm-in-use');
      existing.hasWaiter = true;
      await slotFreed(existing);
      if (slots.has(targetId)) return refuse('vm-in-use');
      if (ws.readyState !== ws.OPEN) return releaseAll();
    }
    const slot: TargetSlot = {
      state: 'connecting',
      session: undefined,
      waiters: undefined,
      isFree: false,
      hasWaiter: false,
    };
    slots.set(targetId, slot);
    const free = () => freeSlot(targetId, slot);
    let tcp: net.Socket;
    let initialVmBytes: Uint8Array | undefined;
    try {
      const dialIn = dialInSources.get(targetId);
      if (dialIn) {
        const abort = new AbortController();
        const onClose = () => abort.abort();
        ws.once('close', onClose);
        try {
          ({ socket: tcp, pending: initialVmBytes } = await dialIn.take(
            config.connectTimeoutMs,
            abort.signal,
          ));
        } finally {
          ws.off('close', onClose);
        }
      } else {
        tcp = await connectTcp(target, config.connectTimeoutMs, ws);
      }
    } catch (e) {
      free();
      if (ws.readyState !== ws.OPEN) return releaseAll();
      const why = (e as NodeJS.ErrnoException).code ?? (e as Error).message;
      const reason = target.isDialIn
        ? `The VM is not connected to the relay (${why}). Is the VM running?`
        : `The relay cannot reach the VM (${why}). Is the VM running?`;
      refuseWith(ws, RelayClose.VM_UNREACHABLE, reason);
      emit({
        kind: 'refused',
        target: targetId,
        remote,
        closeCode: RelayClose.VM_UNREACHABLE,
        reason,
      });
      releaseAll();
      return;
    }
    if (ws.readyState !== ws.OPEN) {
      tcp.destroy();
      free();
      releaseAll();
      return;
    }
    const sessionId = nextSessionId++;
    ws.off('message', onEarly);
    // From here the session's state lives in one LiveSession object; admission's closures
    // (and with them everything they captured) are let go.
    ws.off('close', releaseAll);
    const live = new LiveSession(ctx, {
      ws,
      tcp,
      sessionId,
      targetId,
      remote,
      slot,
      capSlot,
      lease,
      audit: {
        sessionId: String(sessionId),
        targetId,
        target: `${target.host}:${target.port}`,
        clientAddress,
        ...(origin !== undefined ? { origin } : {}),
      },
    });
    const session = new RelaySession({
      ws,
      tcp,
      cleanupAckTimeoutMs: config.cleanupAckTimeoutMs,
      maxBufferedToBrowserBytes: config.maxBufferedToBrowserBytes,
      handler: live,
      activity: live.heartbeat,
      messageRate: config.messageRate,
      slowReaderTimeoutMs: config.slowReaderTimeoutMs,
      initialMessages: early,
      ...(initialVmBytes ? { initialVmBytes } : {}),
      ...(observer ? { observer } : {}),
    });
    live.session = session;
    slot.state = 'active';
    slot.session = session;
    sessions.set(targetId, session);
    metrics?.sessionStarted();
    audit?.sessionStart(live.audit);
    emit({ kind: 'session-start', sessionId, target: targetId, remote });
    ws.resume();
  }

  function freeSlot(targetId: string, slot: TargetSlot): void {
    if (slots.get(targetId) === slot) slots.delete(targetId);
    if (slot.isFree) return;
    slot.isFree = true;
    const waiters = slot.waiters;
    slot.waiters = undefined;
    for (const w of waiters ?? []) w();
  }

  /** Metrics hooks shared by every session. */
  const observer: SessionObserver | undefined = metrics
    ? {
        bytes: (direction, count) => metrics.addBytes(direction, count),
        apduAnswered: (latencyMs) => metrics.observeApdu(latencyMs / 1000),
      }
    : undefined;
  const ctx: ServerContext = { emit, metrics, audit, heartbeat, sessions, freeSlot };

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
  readiness.markListening();
  const bound = httpServer.address() as net.AddressInfo;
  const address = { host: config.listen.host, port: bound.port };

  return {
    address,
    url: formatUrl(address, config.tls !== undefined),
    sessions,
    readiness,
    dialInPorts: new Map([...dialIns].map(([id, p]) => [id, p.port])),
    vmTlsAddress: vmTls?.address,
    get vmTlsConnections() {
      return vmTls?.connectionCount ?? 0;
    },
    reloadTls(): void {
      // Load everything first, so a bad file leaves every listener as it was.
      const web = config.tls ? loadTls() : undefined;
      const vm = vmTls?.loadFiles();
      if (web) (httpServer as https.Server).setSecureContext(web);
      if (vm) vmTls?.useFiles(vm);
    },
    async close(): Promise<void> {
      isClosing = true;
      readiness.markDraining();
      const pending = [...slots.values()].map(slotFreed);
      for (const s of sessions.values())
        s.close(RelayClose.GOING_AWAY, 'The relay is shutting down.');
      for (const ws of clients) {
        if (ws.readyState === ws.OPEN)
          refuseWith(ws, RelayClose.GOING_AWAY, 'The relay is shutting down.');
      }
      await Promise.all(pending);
      // Browsers that do not finish the close handshake in time are cut off.
      const deadline = Date.now() + 2000;
      while (clients.size > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      for (const ws of clients) ws.terminate();
      await new Promise<void>((resolve) => {
        httpServer.close(() => resolve());
        httpServer.closeAllConnections();
      });
      wss.close();
      await Promise.all([...dialIns.values()].map((p) => p.close()));
      await vmTls?.close();
    },
  };
}

/** Closes a WebSocket that is not (yet) a session, reading on so the handshake completes. */
function refuseWith(ws: WebSocket, code: number, reason: string): void {
  ws.resume();
  ws.close(code, reason);
  setTimeout(() => ws.terminate(), 2000).unref();
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

/** What a {@link LiveSession} needs of its server (one object per server). */
interface ServerContext {
  emit: (e: ServerEvent) => void;
  metrics: RelayMetrics | undefined;
  audit: AuditLog | undefined;
  heartbeat: HeartbeatManager;
  sessions: Map<string, RelaySession>;
  freeSlot: (targetId: string, slot: TargetSlot) => void;
}

/**
 * An admitted session's server-side state: heartbeat peer and RelaySession handler in one
 * object, so an idle session holds no closures and no pending promise of its own.
 */
class LiveSession implements HeartbeatPeer, SessionHandler {
  readonly ctx: ServerContext;
  readonly ws: WebSocket;
  readonly sessionId: number;
  readonly targetId: string;
  readonly remote: string;
  readonly slot: TargetSlot;
  readonly capSlot: SessionSlot;
  readonly lease: TokenLease | undefined;
  readonly audit: SessionStartAudit;
  readonly startedAt = Date.now();
  readonly heartbeat: HeartbeatHandle;
  session: RelaySession | undefined;

  constructor(
    ctx: ServerContext,
    o: {
      ws: WebSocket;
      tcp: net.Socket;
      sessionId: number;
      targetId: string;
      remote: string;
      slot: TargetSlot;
      capSlot: SessionSlot;
      lease: TokenLease | undefined;
      audit: SessionStartAudit;
    },
  ) {
    this.ctx = ctx;
    this.ws = o.ws;
    this.sessionId = o.sessionId;
    this.targetId = o.targetId;
    this.remote = o.remote;
    this.slot = o.slot;
    this.capSlot = o.capSlot;
    this.lease = o.lease;
    this.audit = o.audit;
    this.heartbeat = ctx.heartbeat.add(this);
  }

  ping(): void {
    if (this.ws.readyState === this.ws.OPEN) this.ws.ping();
  }

  activityCount(): number {
    return this.session?.messageCount ?? 0;
  }

  expire(kind: HeartbeatExpiry): void {
    const { code, reason } = refusalClose(kind);
    this.ctx.metrics?.refused(kind);
    this.session?.close(code, reason);
  }

  onSessionEvent(event: SessionEvent): void {
    if (event.kind === 'limit') this.ctx.metrics?.refused(event.refusal);
    this.ctx.emit({ kind: 'session-event', sessionId: this.sessionId, event });
  }

  onSessionEnd(end: SessionEnd): void {
    const { ctx } = this;
    this.heartbeat.remove();
    if (ctx.sessions.get(this.targetId) === this.session) ctx.sessions.delete(this.targetId);
    ctx.freeSlot(this.targetId, this.slot);
    this.capSlot.release();
    this.lease?.release();
    ctx.metrics?.sessionEnded();
    ctx.audit?.sessionEnd({
      ...this.audit,
      apduCount: end.stats.guestCommands,
      bytesToVm: end.stats.bytesFromBrowser,
      bytesToBrowser: end.stats.bytesToBrowser,
      durationMs: Date.now() - this.startedAt,
      closeCode: end.closeCode ?? end.browserCloseCode ?? 1005,
      closeReason: end.closeReason,
      endedBy: end.endedBy,
    });
    ctx.emit({ kind: 'session-end', sessionId: this.sessionId, target: this.targetId, end });
  }
}
