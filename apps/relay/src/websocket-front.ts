/**
 * The VSCard WebSocket endpoint at `RELAY_PATH` (browser ⇄ relay contract,
 * `@cardlend/vscard/relay-contract`): path and subprotocol are checked on the HTTP upgrade
 * (404/400); every later refusal happens after the upgrade, so the page gets a close code it
 * can show. Then the admission pipeline (admission/pipeline.ts) runs, and an admitted client
 * gets its session (session-runner.ts).
 */
import type http from 'node:http';
import type { Duplex } from 'node:stream';
import { VSCARD_HEADER_BYTES, VSCARD_MAX_PAYLOAD_BYTES } from '@cardlend/vscard';
import { RELAY_PATH, RELAY_SUBPROTOCOL, RelayClose } from '@cardlend/vscard/relay-contract';
import { WebSocketServer, type WebSocket } from 'ws';
import { parseClientOffer, type ClientOffer } from './admission/offer.ts';
import { closeUnadmitted, PendingClient } from './admission/pending-client.ts';
import { runAdmission } from './admission/pipeline.ts';
import type { AdmissionStep, Admitted, ClientInfo, Refusal } from './admission/types.ts';
import { resolveClientAddress, type TrustedProxies } from './auth/forwarded.ts';
import { ticketRefusal, type ClusterResumes } from './cluster/resume-link.ts';
import { isPiped } from './cluster/resume-pipe.ts';
import { selectSubprotocol } from './auth/origin.ts';
import { refuseUpgrade } from './http-front.ts';
import type { AuditLog } from './ops/logger.ts';
import type { RelayMetrics } from './ops/metrics.ts';
import type { ServerEvent } from './server-events.ts';
import { resumeSession, runSession, type RunnerContext } from './session-runner.ts';

/** Largest WebSocket message from the browser: one whole client message (12 + 65524 bytes). */
export const MAX_FRAME_BYTES = VSCARD_HEADER_BYTES + VSCARD_MAX_PAYLOAD_BYTES;

function noop(): void {}

export interface WebSocketFrontOptions {
  readonly defaultTarget: string;
  readonly steps: readonly AdmissionStep[];
  /** The steps a reconnect presenting a resume ticket passes instead (its ticket stands for the rest). */
  readonly resumeSteps: readonly AdmissionStep[];
  readonly runner: RunnerContext;
  readonly trustedProxies: TrustedProxies;
  readonly emit: (e: ServerEvent) => void;
  readonly metrics: RelayMetrics | undefined;
  readonly audit: AuditLog | undefined;
  /** Wall clock for token expiry, unix ms. */
  readonly now: () => number;
  /** A cluster node: tickets it does not hold are looked up and passed on (cluster/resume-link.ts). */
  readonly clusterResumes?: ClusterResumes | undefined;
}

export class WebSocketFront {
  readonly #opts: WebSocketFrontOptions;
  readonly #wss: WebSocketServer;
  /** Every upgraded WebSocket until it closes (sessions, and those being admitted or refused). */
  readonly #clients = new Set<WebSocket>();
  /** WebSockets presenting a resume ticket, until their resume is settled (taken over, piped, refused). */
  readonly #resuming = new Set<WebSocket>();
  /** The one `close` listener of every tracked WebSocket (ws calls it with the WebSocket as `this`). */
  readonly #untrack: (this: WebSocket) => void;
  #isClosing = false;

  constructor(opts: WebSocketFrontOptions) {
    this.#opts = opts;
    this.#wss = new WebSocketServer({
      noServer: true,
      perMessageDeflate: false,
      maxPayload: MAX_FRAME_BYTES,
      // Tracked here with one shared listener instead of ws's closure per connection.
      clientTracking: false,
      // Select cardlend.vscard.v1; a token subprotocol is never echoed (auth/origin.ts).
      handleProtocols: selectSubprotocol,
    });
    this.#wss.on('error', (e) => opts.emit({ kind: 'server-error', message: e.message }));
    const clients = this.#clients;
    this.#untrack = function untrack(this: WebSocket) {
      clients.delete(this);
    };
  }

  /** The HTTP server's `upgrade` listener. */
  onUpgrade = (req: http.IncomingMessage, socket: Duplex, head: Buffer): void => {
    socket.on('error', noop);
    // The one read of the header; neither it nor the token is kept past admission.
    const offer = parseClientOffer(req.headers['sec-websocket-protocol']);
    const refused = this.#checkUpgrade(req, offer);
    if (refused) {
      const remote = `${req.socket.remoteAddress ?? '?'}:${req.socket.remotePort ?? '?'}`;
      if (refused.status !== 503) this.#opts.emit({ kind: 'upgrade-refused', ...refused, remote });
      refuseUpgrade(socket, refused.status, refused.message);
      return;
    }
    const client = this.#clientInfo(req, offer.isResumeCapable);
    // This callback and its context live only until admission ends: the session's WebSocket
    // keeps no closure of it (the shared `#untrack` listener).
    this.#wss.handleUpgrade(req, socket, head, (ws) => {
      // ws handles the socket's errors from here on.
      socket.off('error', noop);
      this.#clients.add(ws);
      ws.on('close', this.#untrack);
      void this.#admit(ws, client, offer).catch((e: unknown) => {
        this.#opts.emit({ kind: 'server-error', message: `session: ${(e as Error).message}` });
        ws.terminate();
      });
    });
  };

  /** Refusals on the HTTP level: wrong path, shutting down, no VSCard subprotocol. */
  #checkUpgrade(
    req: http.IncomingMessage,
    offer: ClientOffer,
  ): { status: number; reason: string; message: string } | undefined {
    if ((req.url ?? '').split('?')[0] !== RELAY_PATH)
      return {
        status: 404,
        reason: 'wrong path',
        message: `The VSCard WebSocket endpoint is ${RELAY_PATH}.`,
      };
    if (this.#isClosing)
      return { status: 503, reason: 'shutting down', message: 'The relay is shutting down.' };
    if (!offer.hasVscardProtocol)
      return {
        status: 400,
        reason: 'missing subprotocol',
        message: `Request the WebSocket subprotocol "${RELAY_SUBPROTOCOL}".`,
      };
    return undefined;
  }

  #clientInfo(req: http.IncomingMessage, isResumeCapable: boolean): ClientInfo {
    // The peer, or — only behind a configured trusted proxy — the forwarded client.
    const peerAddress = req.socket.remoteAddress;
    const resolved = resolveClientAddress({
      peerAddress,
      headers: req.headers,
      trustedProxies: this.#opts.trustedProxies,
    });
    // The socket keeps its peer's text anyway: a session keeps no second copy of it.
    const clientAddress = resolved === peerAddress ? peerAddress : resolved;
    return {
      clientAddress,
      remote: `${clientAddress}:${req.socket.remotePort ?? '?'}`,
      origin: typeof req.headers.origin === 'string' ? req.headers.origin : undefined,
      host: req.headers.host,
      isResumeCapable,
    };
  }

  async #admit(ws: WebSocket, client: ClientInfo, offer: ClientOffer): Promise<void> {
    const { steps, resumeSteps, defaultTarget, runner, now } = this.#opts;
    const pending = new PendingClient(ws, {
      maxEarlyBytes: 2 * MAX_FRAME_BYTES,
      now,
      offeredToken: offer.offeredToken,
    });
    if (offer.resumeTicket !== null) {
      this.#resuming.add(ws);
      try {
        await this.#resume(pending, client, offer.resumeTicket, resumeSteps);
      } finally {
        this.#resuming.delete(ws);
      }
      return;
    }
    const result = await runAdmission(steps, client, defaultTarget, pending);
    if (!result.ok) {
      if (result.refusal) {
        pending.refuse(result.refusal);
        this.#report(result.refusal, result.admitted);
      } else {
        pending.drop();
      }
      return;
    }
    runSession(runner, ws, result.admitted, pending.handOver());
  }

  /**
   * A reconnect presenting a resume ticket (issue 14 §1): the resume steps, then the ticket
   * names the session it takes over; refused with 4016/4017/4018 (resume/tickets.ts). On a
   * cluster node, a ticket this node does not hold is passed on to the node that runs its
   * session (cluster/resume-link.ts).
   */
  async #resume(
    pending: PendingClient,
    client: ClientInfo,
    ticket: string,
    resumeSteps: readonly AdmissionStep[],
  ): Promise<void> {
    const { defaultTarget, runner, now, clusterResumes } = this.#opts;
    const result = await runAdmission(resumeSteps, client, defaultTarget, pending);
    if (!result.ok) {
      if (result.refusal) {
        pending.refuse(result.refusal);
        this.#report(result.refusal, result.admitted);
      } else pending.drop();
      return;
    }
    const claim = runner.tickets.claim(ticket, client.origin, now());
    // The session reports its own `resumed` event.
    if (claim.ok && resumeSession(claim.session, pending.ws, pending.handOver())) return;
    let refusal = ticketRefusal(claim.ok ? 'expired' : claim.refusal);
    if (!claim.ok && claim.refusal === 'unknown' && clusterResumes !== undefined) {
      const routed = await clusterResumes.route(ticket, client.origin, pending);
      if (routed.kind === 'relayed') return;
      if (routed.kind === 'retry') {
        // Dropped without a close frame: the client tries its ticket again.
        this.#opts.emit({ kind: 'server-error', message: `resume not passed on: ${routed.why}` });
        pending.drop();
        pending.ws.terminate();
        return;
      }
      // Gone: the client left, or flooded while its ticket was looked up.
      if (routed.kind === 'gone' && pending.refusedFromOutside === undefined) return pending.drop();
      if (routed.kind === 'gone') refusal = pending.refusedFromOutside ?? refusal;
      if (routed.kind === 'refused') refusal = routed.refusal;
    }
    pending.refuse(refusal);
    const targetId = claim.ok ? claim.session.targetId : defaultTarget;
    this.#report(refusal, { client, targetId });
  }

  /** Events, metrics and the audit line of a refusal. */
  #report(refusal: Refusal, admitted: Admitted): void {
    const { client, targetId } = admitted;
    const { emit, metrics, audit } = this.#opts;
    emit({
      kind: 'refused',
      target: targetId,
      remote: client.remote,
      closeCode: refusal.code,
      reason: refusal.reason,
      ...(refusal.kind ? { refusal: refusal.kind } : {}),
    });
    if (!refusal.kind) return;
    metrics?.refused(refusal.kind);
    audit?.refusal({
      kind: refusal.kind,
      clientAddress: client.clientAddress,
      targetId,
      ...(client.origin !== undefined ? { origin: client.origin } : {}),
    });
  }

  /**
   * Stops admitting: new upgrades get 503, clients not yet in a session get 1001. A page this
   * node only pipes to a session on another node (cluster/resume-pipe.ts), or whose resume is
   * still under way, is cut without a close frame instead (1006): a session on another node
   * parks and the page resumes through another node, while a 1001 would end that session and
   * make the page give its ticket up. The sessions this node runs are closed by the server
   * (1001).
   */
  async close(): Promise<void> {
    this.#isClosing = true;
    for (const ws of this.#clients) {
      if (isPiped(ws) || this.#resuming.has(ws)) ws.terminate();
      else if (ws.readyState === ws.OPEN)
        closeUnadmitted(ws, RelayClose.GOING_AWAY, 'The relay is shutting down.');
    }
  }

  /** Waits (at most `ms`) for every WebSocket to close, then cuts off the rest. */
  async drain(ms: number): Promise<void> {
    const deadline = Date.now() + ms;
    while (this.#clients.size > 0 && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 20));
    for (const ws of this.#clients) ws.terminate();
    this.#wss.close();
  }
}
