/**
 * Limits on the HTTP side of the listener (issue 6, "Proof": a slowloris client is refused
 * and the relay keeps serving others). Node's defaults are generous for an internet-facing
 * WebSocket endpoint: 60 s for the request headers, checked only every 30 s. These options
 * bound how long and how much an upgrade request may take before a session exists (after
 * the upgrade, the auth deadline and the heartbeat take over).
 *
 * Integration (http-front.ts): `http.createServer(httpServerOptions(config.http), handler)`
 * (or `https.createServer({ ...tlsOptions, ...httpServerOptions(...) }, handler)`), then
 * `applyHttpLimits(server, config.http)`. `maxConnections` caps all TCP connections
 * (pre-upgrade and upgraded); set it a little above the session cap.
 */
import type { Server, ServerOptions } from 'node:http';

/** Options of {@link httpServerOptions} and {@link applyHttpLimits}. */
export interface HttpLimitsOptions {
  /** Time to receive the complete request headers, ms; default 10 000. */
  readonly headersTimeoutMs?: number;
  /** Time to receive the whole request, ms; default 30 000 (≥ headersTimeoutMs). */
  readonly requestTimeoutMs?: number;
  /** Idle keep-alive connections are closed after, ms; default 5 000. */
  readonly keepAliveTimeoutMs?: number;
  /** Largest request header block, bytes; default 8 192 (tokens are ≤ 1 024 characters). */
  readonly maxHeaderBytes?: number;
  /** Most header lines; default 64. */
  readonly maxHeadersCount?: number;
  /** How often the timeouts above are checked, ms; default 1 000. */
  readonly checkIntervalMs?: number;
  /** Most simultaneous TCP connections; default unlimited (Node's default). */
  readonly maxConnections?: number;
}

/** Default HTTP limits, see {@link HttpLimitsOptions}. */
export const DEFAULT_HTTP_LIMITS = {
  headersTimeoutMs: 10_000,
  requestTimeoutMs: 30_000,
  keepAliveTimeoutMs: 5_000,
  maxHeaderBytes: 8192,
  maxHeadersCount: 64,
  checkIntervalMs: 1000,
} as const;

function positive(value: number, what: string): number {
  if (!Number.isFinite(value) || value <= 0)
    throw new RangeError(`${what} must be a positive number`);
  return value;
}

/** Options that can only be given to `http.createServer` (they also set the timeouts). */
export function httpServerOptions(opts: HttpLimitsOptions = {}): ServerOptions {
  const headersTimeout = positive(
    opts.headersTimeoutMs ?? DEFAULT_HTTP_LIMITS.headersTimeoutMs,
    'headersTimeoutMs',
  );
  const requestTimeout = positive(
    opts.requestTimeoutMs ?? DEFAULT_HTTP_LIMITS.requestTimeoutMs,
    'requestTimeoutMs',
  );
  if (requestTimeout < headersTimeout)
    throw new RangeError('requestTimeoutMs must be ≥ headersTimeoutMs');
  return {
    headersTimeout,
    requestTimeout,
    keepAliveTimeout: positive(
      opts.keepAliveTimeoutMs ?? DEFAULT_HTTP_LIMITS.keepAliveTimeoutMs,
      'keepAliveTimeoutMs',
    ),
    maxHeaderSize: positive(
      opts.maxHeaderBytes ?? DEFAULT_HTTP_LIMITS.maxHeaderBytes,
      'maxHeaderBytes',
    ),
    connectionsCheckingInterval: positive(
      opts.checkIntervalMs ?? DEFAULT_HTTP_LIMITS.checkIntervalMs,
      'checkIntervalMs',
    ),
    noDelay: true,
  };
}

/** Sets the limits that live on the server object (idempotent; call after creation). */
export function applyHttpLimits(server: Server, opts: HttpLimitsOptions = {}): void {
  const o = httpServerOptions(opts);
  server.headersTimeout = o.headersTimeout ?? DEFAULT_HTTP_LIMITS.headersTimeoutMs;
  server.requestTimeout = o.requestTimeout ?? DEFAULT_HTTP_LIMITS.requestTimeoutMs;
  server.keepAliveTimeout = o.keepAliveTimeout ?? DEFAULT_HTTP_LIMITS.keepAliveTimeoutMs;
  server.maxHeadersCount = opts.maxHeadersCount ?? DEFAULT_HTTP_LIMITS.maxHeadersCount;
  if (opts.maxConnections !== undefined)
    server.maxConnections = positive(opts.maxConnections, 'maxConnections');
}
