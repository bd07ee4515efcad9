/**
 * Operations endpoints (issue 6, "Operations"): `/metrics` (Prometheus text format),
 * `/healthz` (the process answers) and `/readyz` (listening and not draining: a load
 * balancer stops sending new sessions as soon as a SIGTERM starts the drain).
 *
 * Integration (http-front.ts): `const ops = createOpsHandler({ registry: metrics.registry, readiness })`;
 * in the HTTP server's request listener, first `if (ops(req, res)) return;` then serve the
 * web app. `readiness.markListening()` in the `listen` callback; the shutdown coordinator
 * (ops/shutdown.ts) calls `markDraining()`. To keep metrics private, serve the handler on a
 * separate loopback listener instead (`http.createServer((q, s) => { if (!ops(q, s)) { s.statusCode = 404; s.end(); } })`).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Registry } from 'prom-client';

/**
 * Readiness state: 'starting' until listening, 'ready', then 'draining' for good;
 * 'unavailable' while something the relay needs for new sessions is missing (a cluster node's
 * store, issue 15).
 */
export type ReadinessState = 'starting' | 'ready' | 'unavailable' | 'draining';

/** Readiness flag shared by the server and the shutdown coordinator. */
export class Readiness {
  #isListening = false;
  #isDraining = false;
  #unavailable: string | undefined;

  /** The listener is bound. */
  markListening(): void {
    this.#isListening = true;
  }

  /** Shutdown began; readiness never returns. */
  markDraining(): void {
    this.#isDraining = true;
  }

  /** New sessions cannot be admitted for `why` (undefined: they can again). */
  markUnavailable(why: string | undefined): void {
    this.#unavailable = why;
  }

  /** Why the relay is 'unavailable', if it is. */
  get unavailableReason(): string | undefined {
    return this.#unavailable;
  }

  get state(): ReadinessState {
    if (this.#isDraining) return 'draining';
    if (!this.#isListening) return 'starting';
    return this.#unavailable === undefined ? 'ready' : 'unavailable';
  }

  get isReady(): boolean {
    return this.state === 'ready';
  }
}

/** Paths the handler answers. */
export const OPS_PATHS = { metrics: '/metrics', healthz: '/healthz', readyz: '/readyz' } as const;

/**
 * Returns a request handler that answers the ops paths (GET/HEAD; 405 otherwise) and
 * returns true, or returns false without touching the response for any other path.
 */
export function createOpsHandler(opts: {
  readonly registry: Registry;
  readonly readiness: Readiness;
}): (req: IncomingMessage, res: ServerResponse) => boolean {
  return (req, res) => {
    const path = (req.url ?? '/').split('?', 1)[0];
    if (path !== OPS_PATHS.metrics && path !== OPS_PATHS.healthz && path !== OPS_PATHS.readyz)
      return false;
    res.setHeader('Cache-Control', 'no-store');
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { Allow: 'GET, HEAD', 'Content-Type': 'text/plain; charset=utf-8' });
      res.end('method not allowed\n');
      return true;
    }
    const send = (status: number, type: string, body: string): void => {
      res.writeHead(status, { 'Content-Type': type });
      res.end(req.method === 'HEAD' ? undefined : body);
    };
    if (path === OPS_PATHS.healthz) send(200, 'text/plain; charset=utf-8', 'ok\n');
    else if (path === OPS_PATHS.readyz) {
      const state = opts.readiness.state;
      const why = state === 'unavailable' ? `: ${opts.readiness.unavailableReason}` : '';
      send(state === 'ready' ? 200 : 503, 'text/plain; charset=utf-8', `${state}${why}\n`);
    } else {
      opts.registry.metrics().then(
        (text) => send(200, opts.registry.contentType, text),
        () => send(500, 'text/plain; charset=utf-8', 'metrics unavailable\n'),
      );
    }
    return true;
  };
}
