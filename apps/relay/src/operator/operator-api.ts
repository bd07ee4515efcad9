/**
 * The operator API for the helpdesk (issue 15), off unless the config file has
 * `"operator": { "listen": "HOST:PORT", "secretFile": FILE }`. Its own listener; every request
 * carries `Authorization: Bearer <the secret file's content>`. With `"tls"` the listener is
 * HTTPS and takes only clients with a certificate the operator CA signed (operator/tls.ts);
 * the bearer secret is still required.
 *
 * - `POST /v1/links` `{"target": ID, "ttlSeconds"?: N}` → `{"token": …}`: mints a single-use
 *   session token (as `mint-token` does offline) for a target this relay serves;
 * - `GET /v1/sessions` → `{"sessions": [{node, sessionId, target, clientAddress, since,
 *   apduCount}]}`: the live sessions of every node (never payloads);
 * - `DELETE /v1/sessions/<node>/<sessionId>` → 202: ends that session on whichever node holds
 *   it (within a second); the guest sees the card removed, the page "the helpdesk ended it".
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import http from 'node:http';
import https from 'node:https';
import type net from 'node:net';
import type tls from 'node:tls';
import { mintToken } from '../auth/tokens.ts';
import type { ClusterStore } from '../cluster/store.ts';
import type { HostPort } from '../config/types.ts';
import {
  clientCertTlsOptions,
  rememberRemotes,
  trackConnections,
  useClientCertTls,
} from '../client-cert-tls.ts';
import { listenOn } from '../listen.ts';
import type { SessionRegistry } from './session-registry.ts';
import { OPERATOR_TLS_HANDSHAKE_TIMEOUT_MS, type TlsMaterial } from './tls.ts';
import { refusedHandshake } from '../tls-handshake-failure.ts';

export interface OperatorApiOptions {
  readonly listen: HostPort;
  readonly secret: Uint8Array;
  readonly store: ClusterStore;
  readonly registry: SessionRegistry;
  readonly nodeId: string;
  readonly tokenSecret: Uint8Array | undefined;
  readonly isKnownTarget: (id: string) => boolean;
  readonly now: () => number;
  /** HTTPS requiring client certificates signed by `tls.ca`. Default none (plain HTTP). */
  readonly tls?: TlsMaterial | undefined;
  /** A connection refused before any request (failed TLS handshake); never secrets. */
  readonly onRefused?: ((remote: string, reason: string) => void) | undefined;
}

const MAX_BODY_BYTES = 4096;

/**
 * What the API keeps of its options: neither the bearer secret (only its hash) nor the TLS
 * material (the server holds the current one; an old key is not kept past a SIGHUP).
 */
type KeptOptions = Omit<OperatorApiOptions, 'secret' | 'tls' | 'onRefused'>;

export class OperatorApi {
  readonly #o: KeptOptions;
  readonly #isTls: boolean;
  readonly #server: http.Server | https.Server;
  readonly #secretHash: Buffer;
  /** Every accepted TCP connection still open (a TLS handshake in progress included). */
  readonly #connections: ReadonlySet<net.Socket>;

  constructor(opts: OperatorApiOptions) {
    const { secret, tls: material, onRefused, ...kept } = opts;
    this.#o = kept;
    this.#isTls = material !== undefined;
    this.#secretHash = createHash('sha256').update(secret).digest();
    const onRequest = (req: http.IncomingMessage, res: http.ServerResponse): void => {
      this.#handle(req, res).catch((e: unknown) =>
        send(res, 503, { error: `unavailable: ${(e as Error).message}` }),
      );
    };
    this.#server = material
      ? https.createServer(
          clientCertTlsOptions(material, OPERATOR_TLS_HANDSHAKE_TIMEOUT_MS),
          onRequest,
        )
      : http.createServer(onRequest);
    const remoteOfHandshake = rememberRemotes(this.#server);
    this.#server.on('tlsClientError', (e: NodeJS.ErrnoException, socket: tls.TLSSocket) => {
      const why = handshakeFailure(e, socket);
      onRefused?.(remoteOfHandshake(socket), `TLS handshake failed: ${why}`);
      socket.destroy();
    });
    this.#connections = trackConnections(this.#server);
  }

  start(): Promise<void> {
    return listenOn(this.#server, this.#o.listen);
  }

  get port(): number {
    return (this.#server.address() as net.AddressInfo).port;
  }

  /**
   * Uses new PEM material (SIGHUP) for connections accepted from now on; live connections keep
   * theirs. No-op on a plain HTTP listener.
   */
  useTls(material: TlsMaterial): void {
    if (this.#server instanceof https.Server) useClientCertTls(this.#server, material);
  }

  /** Stops listening and ends every connection, handshakes in progress included. */
  close(): Promise<void> {
    return new Promise((resolve) => {
      this.#server.close(() => resolve());
      for (const raw of this.#connections) raw.destroy();
    });
  }

  #isAuthorized(req: http.IncomingMessage): boolean {
    const m = /^Bearer (.+)$/.exec(req.headers.authorization ?? '');
    if (!m) return false;
    const given = createHash('sha256')
      .update((m[1] as string).trim())
      .digest();
    return timingSafeEqual(given, this.#secretHash);
  }

  async #handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    // rejectUnauthorized already ended unverified handshakes; this is a second lock.
    if (this.#isTls && !(req.socket as tls.TLSSocket).authorized) return void req.socket.destroy();
    if (!this.#isAuthorized(req)) return send(res, 401, { error: 'a bearer secret is required' });
    const url = new URL(req.url ?? '/', 'http://operator');
    const end = /^\/v1\/sessions\/([A-Za-z0-9._-]{1,64})\/(\d{1,15})$/.exec(url.pathname);
    if (req.method === 'GET' && url.pathname === '/v1/sessions')
      return send(res, 200, { sessions: await this.#o.store.listSessions() });
    if (req.method === 'DELETE' && end) return this.#end(res, end[1] as string, Number(end[2]));
    if (req.method === 'POST' && url.pathname === '/v1/links') return this.#mint(req, res);
    send(res, 404, { error: 'unknown request' });
  }

  async #end(res: http.ServerResponse, node: string, sessionId: number): Promise<void> {
    if (node === this.#o.nodeId) {
      const isEnded = this.#o.registry.end(sessionId);
      return send(
        res,
        isEnded ? 202 : 404,
        isEnded ? { ending: true } : { error: 'no such session' },
      );
    }
    await this.#o.store.requestEnd(node, sessionId, 10_000);
    send(res, 202, { ending: true });
  }

  async #mint(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const body = await readJson(req);
    const o = (typeof body === 'object' && body !== null ? body : {}) as Record<string, unknown>;
    const target = o['target'];
    const ttl = o['ttlSeconds'] ?? 600;
    if (typeof target !== 'string' || !this.#o.isKnownTarget(target))
      return send(res, 400, { error: 'unknown target' });
    if (typeof ttl !== 'number' || !Number.isInteger(ttl) || ttl < 1 || ttl > 86_400)
      return send(res, 400, { error: 'ttlSeconds must be an integer in 1..86400' });
    if (this.#o.tokenSecret === undefined)
      return send(res, 409, { error: 'this relay has no token secret' });
    const token = mintToken({
      secret: this.#o.tokenSecret,
      targetId: target,
      ttlSeconds: ttl,
      nowMs: this.#o.now(),
    });
    send(res, 200, { token });
  }
}

/**
 * Why a handshake failed. A client certificate that does not verify (another CA, expired) is
 * ended by Node without an error of its own (the close reads as ECONNRESET): the socket's
 * `authorizationError` names the reason (its address: `rememberRemotes`).
 */
function handshakeFailure(e: NodeJS.ErrnoException, socket: tls.TLSSocket): string {
  const { kind, code } = refusedHandshake(e, socket);
  return kind === 'unverified' ? `client certificate refused (${code})` : code;
}

function send(res: http.ServerResponse, status: number, body: unknown): void {
  if (res.headersSent) return void res.end();
  res.writeHead(status, { 'Content-Type': 'application/json', 'Cache-Control': 'no-store' });
  res.end(`${JSON.stringify(body)}\n`);
}

function readJson(req: http.IncomingMessage): Promise<unknown> {
  return new Promise((resolve) => {
    let text = '';
    req.setEncoding('utf8');
    req.on('data', (c: string) => {
      text += c;
      if (text.length > MAX_BODY_BYTES) req.destroy();
    });
    req.on('end', () => {
      try {
        resolve(JSON.parse(text));
      } catch {
        resolve(undefined);
      }
    });
    req.on('error', () => resolve(undefined));
  });
}
