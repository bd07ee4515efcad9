/**
 * `startRelayServer`: puts the relay's pieces together — the targets (targets.ts), the HTTP
 * side (http-front.ts), the WebSocket endpoint with its admission pipeline
 * (websocket-front.ts, admission/), the session runner (session-runner.ts) — and gives back
 * a handle to inspect, reload and close it.
 */
import type http from 'node:http';
import type https from 'node:https';
import type net from 'node:net';
import { RelayClose, VSCARD_HEADER_BYTES, VSCARD_MAX_GUEST_COMMAND_BYTES } from '@cardlend/vscard';
import { admissionSteps } from './admission/pipeline.ts';
import { originStep } from './admission/steps.ts';
import { parseTrustedProxies } from './auth/forwarded.ts';
import type { ClusterRuntime } from './cluster/cluster-runtime.ts';
import type { ClusterStore } from './cluster/store.ts';
import { ClusterResumes } from './cluster/resume-link.ts';
import { loadLinkTlsFiles } from './cluster/link-tls.ts';
import { startCluster } from './cluster/wiring.ts';
import { startOperator, type RunningOperator } from './operator/wiring.ts';
import { createOriginPolicy, isLoopbackHost } from './auth/origin.ts';
import { TokenLedger } from './auth/tokens.ts';
import type { HostPort, RelayConfig } from './config/types.ts';
import { RelayError } from './errors.ts';
import { createHttpServer, createRequestHandler, formatUrl } from './http-front.ts';
import { HeartbeatManager } from './limits/heartbeat.ts';
import { SessionCaps } from './limits/session-caps.ts';
import { Readiness } from './ops/http.ts';
import type { AuditLog } from './ops/logger.ts';
import type { RelayMetrics } from './ops/metrics.ts';
import type { ServerEvent } from './server-events.ts';
import { sessionObserver, type RunnerContext } from './session-runner.ts';
import type { FramePolicy } from './session/frame-policy.ts';
import { GUARD_POLICY } from './session/guard-policy.ts';
import type { RelaySession } from './session/relay-session.ts';
import type { SessionTimers } from './session/timers.ts';
import { Targets } from './targets.ts';
import { ResumeTickets } from './resume/tickets.ts';
import { loadWebTlsFiles } from './tls-files.ts';
import { WebSocketFront } from './websocket-front.ts';

export type { ServerEvent } from './server-events.ts';
export { MAX_FRAME_BYTES } from './websocket-front.ts';

/**
 * Largest WebSocket message to the browser: one whole guest command (12 + 65526 bytes,
 * `VSCARD_MAX_GUEST_COMMAND_BYTES`), 2 bytes more than `MAX_FRAME_BYTES`.
 */
export const MAX_FRAME_TO_BROWSER_BYTES = VSCARD_HEADER_BYTES + VSCARD_MAX_GUEST_COMMAND_BYTES;

export interface RelayServerOptions {
  config: RelayConfig;
  onEvent?: (e: ServerEvent) => void;
  /** Prometheus metrics (ops/metrics.ts); `/metrics` is served when given. */
  metrics?: RelayMetrics;
  /** JSON audit trail (ops/logger.ts). */
  audit?: AuditLog;
  /** Wall clock for token expiry, unix ms. Default `Date.now`. */
  now?: () => number;
  /** Consulted for every whole message of every session, per direction. Default none. */
  /**
   * Frame policy of every session; default the forward guard of issue 11
   * (session/guard-policy.ts: ForwardGuard, long-answer splitting, nagle detection); `null`:
   * none (only the relay's own framing checks).
   */
  framePolicy?: FramePolicy | null;
  /** The sessions' timers (grace, acks, close handshake, slow reader). Default Node's. */
  sessionTimers?: SessionTimers;
  /** With `config.cluster`: this store instead of connecting to its URL (tests). */
  clusterStore?: ClusterStore;
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
  /** This node's cluster (config `cluster`), or undefined for a relay alone. */
  readonly cluster: ClusterRuntime | undefined;
  /** The operator API's bound port (config `operator`), when it runs. */
  readonly operatorPort: number | undefined;
  /** Bound dial-in ports by target id (for per-VM-port dial-in targets). */
  readonly dialInPorts: ReadonlyMap<string, number>;
  /** The shared TLS listener for dial-in VMs (config `vmTls`), when configured. */
  readonly vmTlsAddress: HostPort | undefined;
  /** TCP connections the VM TLS listener holds now (0 without one). */
  readonly vmTlsConnections: number;
  /**
   * Re-reads the TLS certificate and key of the listener, of the VM TLS listener, of the
   * operator API and of the cluster link (their CAs too) (SIGHUP); new connections use them,
   * live ones keep theirs. Throws `RELAY_CONFIG_INVALID` (and keeps all the old ones) if any
   * cannot be loaded. No-op without TLS.
   */
  reloadTls(): void;
  /** Stops accepting, ends every session (browser gets 1001, VM gets its cleanup), resolves when all are done. */
  close(): Promise<void>;
}

/** Starts listening; rejects with `RELAY_LISTEN_FAILED` if an address cannot be bound. */
export async function startRelayServer(opts: RelayServerOptions): Promise<RelayServer> {
  const { config, metrics } = opts;
  const onEvent = opts.onEvent ?? (() => {});
  let operator: RunningOperator | undefined;
  const emit = (e: ServerEvent): void => {
    operator?.onServerEvent(e); // the operator API's session registry
    onEvent(e);
  };
  const targets = new Targets({
    config,
    onDialInEvent: (target, event) => {
      cluster?.onDialInEvent(target, event); // the cluster's dial-in directory
      if (event.kind === 'vm-refused' && event.refusal) metrics?.vmTlsRefused(event.refusal);
      emit({ kind: 'dial-in', target, event });
    },
  });
  const readiness = new Readiness();
  // Before the dial-in ports open, so that the directory hears of every VM.
  const cluster = await startCluster({
    config,
    readiness,
    metrics,
    emit,
    store: opts.clusterStore,
    vms: targets,
  });
  try {
    await targets.start();
  } catch (e) {
    await cluster?.close();
    throw e;
  }
  const runner = runnerContext(opts, emit);
  const front = websocketFront(opts, { targets, cluster, runner, emit });
  const onError = (message: string) => emit({ kind: 'server-error', message });
  const httpServer = createHttpServer(
    config,
    createRequestHandler({ staticDir: config.staticDir, readiness, metrics, onError }),
    config.tls ? loadWebTlsFiles(config.tls) : undefined,
  );
  httpServer.on('upgrade', front.onUpgrade);
  try {
    await listen(httpServer, config.listen, onError);
  } catch (e) {
    await targets.close();
    await cluster?.close();
    throw e;
  }
  try {
    operator = await startOperator({
      config,
      cluster,
      sessions: runner.sessions,
      isKnownTarget: (id) => targets.get(id) !== undefined,
      now: opts.now ?? Date.now,
      onRefused: (remote, reason) => emit({ kind: 'operator-refused', remote, reason }),
    });
  } catch (e) {
    httpServer.close();
    await targets.close();
    await cluster?.close();
    throw e;
  }
  readiness.markListening();
  return relayHandle({ config, httpServer, targets, front, runner, readiness, cluster, operator });
}

/** The `/vscard` endpoint with its admission steps (origin → limits → token → target → …). */
function websocketFront(
  opts: RelayServerOptions,
  parts: {
    targets: Targets;
    cluster: ClusterRuntime | undefined;
    runner: RunnerContext;
    emit: (e: ServerEvent) => void;
  },
): WebSocketFront {
  const { config } = opts;
  const { targets, cluster } = parts;
  const originPolicy = createOriginPolicy({
    allowedOrigins: config.allowedOrigins,
    isLoopbackListener: isLoopbackHost(config.listen.host),
  });
  return new WebSocketFront({
    defaultTarget: config.defaultTarget,
    // A resume (issue 14 §1) passes the origin check; its ticket stands for the rest.
    resumeSteps: [originStep(originPolicy)],
    steps: admissionSteps({
      originPolicy,
      caps: new SessionCaps(config),
      tokens: {
        secrets: config.tokenSecrets,
        ledger: new TokenLedger(),
        authTimeoutMs: config.authTimeoutMs,
        isKnownTarget: (id) => targets.get(id) !== undefined,
      },
      targets,
      connectTimeoutMs: config.connectTimeoutMs,
      ...(cluster ? { cluster } : {}),
    }),
    runner: parts.runner,
    trustedProxies: parseTrustedProxies(config.trustedProxies),
    emit: parts.emit,
    metrics: opts.metrics,
    audit: opts.audit,
    now: opts.now ?? Date.now,
    // A resume landing on this node for a session another node runs is passed on to it.
    ...(cluster ? { clusterResumes: new ClusterResumes(cluster, parts.runner) } : {}),
  });
}

function runnerContext(opts: RelayServerOptions, emit: (e: ServerEvent) => void): RunnerContext {
  const { config, metrics } = opts;
  return {
    config,
    emit,
    metrics,
    audit: opts.audit,
    heartbeat: new HeartbeatManager({
      pingIntervalMs: config.pingIntervalMs,
      idleTimeoutMs: config.idleTimeoutMs,
      onError: (e) => emit({ kind: 'server-error', message: `heartbeat: ${(e as Error).message}` }),
    }),
    sessions: new Map(),
    observer: sessionObserver(metrics),
    framePolicy: opts.framePolicy === undefined ? GUARD_POLICY : (opts.framePolicy ?? undefined),
    timers: opts.sessionTimers,
    tickets: new ResumeTickets(),
    nextSessionId: 1,
  };
}

function listen(server: http.Server, at: HostPort, onError: (m: string) => void): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const fail = (e: NodeJS.ErrnoException) => {
      reject(
        new RelayError(
          'RELAY_LISTEN_FAILED',
          `cannot listen on ${at.host}:${at.port} (${e.code ?? e.message})`,
          { cause: e },
        ),
      );
    };
    server.once('error', fail);
    server.listen({ host: at.host, port: at.port }, () => {
      server.off('error', fail);
      server.on('error', (e) => onError(e.message));
      resolve();
    });
  });
}

function relayHandle(parts: {
  config: RelayConfig;
  httpServer: http.Server;
  targets: Targets;
  front: WebSocketFront;
  runner: RunnerContext;
  readiness: Readiness;
  cluster: ClusterRuntime | undefined;
  operator: RunningOperator | undefined;
}): RelayServer {
  const { config, httpServer, targets, front, runner, readiness, cluster, operator } = parts;
  const address = {
    host: config.listen.host,
    port: (httpServer.address() as net.AddressInfo).port,
  };
  return {
    address,
    url: formatUrl(address, config.tls !== undefined),
    sessions: runner.sessions,
    readiness,
    cluster,
    operatorPort: operator?.api.port,
    dialInPorts: targets.dialInPorts,
    vmTlsAddress: targets.vmTlsAddress,
    get vmTlsConnections() {
      return targets.vmTlsConnections;
    },
    reloadTls(): void {
      // Load everything first, so a bad file leaves every listener as it was.
      const web = config.tls ? loadWebTlsFiles(config.tls) : undefined;
      const vm = targets.loadVmTlsFiles();
      const op = operator?.loadTlsFiles();
      const link = config.cluster?.linkTls ? loadLinkTlsFiles(config.cluster.linkTls) : undefined;
      if (web) (httpServer as https.Server).setSecureContext(web);
      if (vm) targets.useVmTlsFiles(vm);
      if (op) operator?.useTlsFiles(op);
      if (link) cluster?.useLinkTls(link);
    },
    async close(): Promise<void> {
      readiness.markDraining();
      const released = targets.allReleased();
      for (const s of runner.sessions.values())
        s.close(RelayClose.GOING_AWAY, 'The relay is shutting down.');
      await front.close();
      await released;
      await front.drain(2000);
      runner.heartbeat.close();
      await new Promise<void>((resolve) => {
        httpServer.close(() => resolve());
        httpServer.closeAllConnections();
      });
      await targets.close();
      await operator?.close();
      await cluster?.close();
    },
  };
}
