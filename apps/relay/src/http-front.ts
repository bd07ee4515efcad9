/**
 * The relay's HTTP side before any WebSocket: the built web app on every path but a few, the
 * operations endpoints (`/healthz`, `/readyz`, `/metrics`), HTTP refusals of upgrades that
 * cannot be a session, and the page's URL.
 */
import http from 'node:http';
import https from 'node:https';
import type { Duplex } from 'node:stream';
import type { HostPort, RelayConfig } from './config/types.ts';
import { applyHttpLimits, httpServerOptions } from './limits/http-limits.ts';
import { createOpsHandler, type Readiness } from './ops/http.ts';
import type { RelayMetrics } from './ops/metrics.ts';
import { createStaticHandler } from './static-files.ts';

type RequestHandler = (req: http.IncomingMessage, res: http.ServerResponse) => void;

/** Ops endpoints first (without metrics, /healthz and /readyz still answer), then the page. */
export function createRequestHandler(opts: {
  staticDir: string;
  readiness: Readiness;
  metrics: RelayMetrics | undefined;
  onError: (message: string) => void;
}): RequestHandler {
  const serveStatic = createStaticHandler(opts.staticDir);
  const { readiness } = opts;
  const ops = opts.metrics
    ? createOpsHandler({ registry: opts.metrics.registry, readiness })
    : undefined;
  return (req, res) => {
    if (ops?.(req, res)) return;
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
      opts.onError(`static: ${(e as Error).message}`);
      if (!res.headersSent) res.writeHead(500);
      res.end();
    });
  };
}

/** The HTTP or HTTPS server with the HTTP limits (slowloris, header sizes). */
export function createHttpServer(
  config: RelayConfig,
  onRequest: RequestHandler,
  tls: { cert: Buffer; key: Buffer } | undefined,
): http.Server {
  const server: http.Server = tls
    ? https.createServer({ ...httpServerOptions(config.http), ...tls }, onRequest)
    : http.createServer(httpServerOptions(config.http), onRequest);
  applyHttpLimits(server, config.http);
  server.on('clientError', (_e, socket) => socket.destroy());
  return server;
}

/** Answers an upgrade that cannot become a session with a plain HTTP status. */
export function refuseUpgrade(socket: Duplex, status: number, message: string): void {
  const body = message + '\n';
  socket.end(
    `HTTP/1.1 ${status} ${http.STATUS_CODES[status] ?? ''}\r\n` +
      'Connection: close\r\nContent-Type: text/plain; charset=utf-8\r\n' +
      `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
  );
}

/** `http(s)://host:port/` of the page (a wildcard address shown as loopback). */
export function formatUrl({ host, port }: HostPort, isTls: boolean): string {
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
