/**
 * A resume that reaches any node of a cluster (issue 14 §1 behind a load balancer): a browser
 * reconnects with its resume ticket to node B, but node A runs its session.
 *
 * - Every node records where its tickets are held (cluster/ticket-directory.ts).
 * - B, holding no such ticket, looks it up: a used or expired record is answered at once
 *   (`4017`, `4016`); a live one on A is passed on over the internal link (cluster/link.ts) to
 *   A's `--advertise` address with a signed resume hello (link-auth.ts) carrying the ticket,
 *   the browser's Origin and the selected subprotocol; B then pipes the browser's WebSocket
 *   and the link (resume-pipe.ts).
 * - A claims the ticket exactly as for a local resume (same origin binding, single use, same
 *   refusals, sent back as a close frame B passes on), and the session resumes with a
 *   WebSocket-like endpoint over the link (link-endpoint.ts).
 *
 * Nothing found, or the record names B itself: B's own answer (`4018`). Nothing listens on A's
 * link address (A is not running, so neither is the session): `4016`. The store or A cannot be
 * reached otherwise (timeout, refused hello, broken link): the browser is dropped without a
 * close frame (1006), so it tries its ticket again (a close code would make it give the ticket
 * up) — a network blip must not end the session.
 */
import type net from 'node:net';
import type { WebSocket } from 'ws';
import type { PendingClient } from '../admission/pending-client.ts';
import type { Refusal } from '../admission/types.ts';
import { TICKET_REFUSALS, type TicketRefusal } from '../resume/tickets.ts';
import { resumeSession, type RunnerContext } from '../session-runner.ts';
import type { ClusterRuntime } from './cluster-runtime.ts';
import { dialHello } from './link.ts';
import { signResumeHello, type ResumeHello } from './link-auth.ts';
import { LinkEndpoint } from './link-endpoint.ts';
import { encodeCloseFrame } from './link-frames.ts';
import { pipeBrowserToLink } from './resume-pipe.ts';
import { StoreUnavailableError } from './store.ts';
import { TicketDirectory, ticketHash } from './ticket-directory.ts';

/** What became of a ticket this node does not hold. */
export type RouteOutcome =
  /** Passed on: the browser is piped to the node that runs its session. */
  | { readonly kind: 'relayed' }
  /** Answered from the directory (used, expired). */
  | { readonly kind: 'refused'; readonly refusal: Refusal }
  /** The store or the session's node cannot be reached now: drop the browser (1006). */
  | { readonly kind: 'retry'; readonly why: string }
  /** The browser left meanwhile. */
  | { readonly kind: 'gone' }
  /** No node holds it: this node's own answer stands. */
  | { readonly kind: 'unknown' };

const UNKNOWN: RouteOutcome = { kind: 'unknown' };
const GONE: RouteOutcome = { kind: 'gone' };

/** A ticket refusal as an admission refusal (no refusal kind: not a limit). */
export function ticketRefusal(why: TicketRefusal): Refusal {
  const { code, reason } = TICKET_REFUSALS[why];
  return { code, reason, kind: undefined };
}

export class ClusterResumes {
  readonly #rt: ClusterRuntime;
  readonly #runner: RunnerContext;

  /**
   * Records this node's tickets and serves resumes passed on to it from now on. A link to
   * another node waits as long as a VM connection would (`connectTimeoutMs`).
   */
  constructor(rt: ClusterRuntime, runner: RunnerContext) {
    this.#rt = rt;
    this.#runner = runner;
    const directory = new TicketDirectory(rt, {
      graceMs: runner.config.resumeGraceMs,
      memoryMs: runner.tickets.memoryMs,
    });
    runner.tickets.observer = directory;
    rt.onClose(() => directory.close());
    rt.onResumeLink = (hello, socket, head) => this.#serve(hello, socket, head);
  }

  /** B's side: a ticket this node does not hold (its ledger said `unknown`). */
  async route(
    ticket: string,
    origin: string | undefined,
    pending: PendingClient,
  ): Promise<RouteOutcome> {
    const rt = this.#rt;
    if (rt.linkKey === undefined) return UNKNOWN;
    let record;
    try {
      record = await rt.store.findTicket(ticketHash(ticket));
    } catch (e) {
      if (e instanceof StoreUnavailableError) return { kind: 'retry', why: 'store unreachable' };
      throw e;
    }
    if (pending.signal.aborted) return GONE;
    if (record === undefined || record.nodeId === rt.nodeId) return UNKNOWN;
    if (record.state !== 'live') return { kind: 'refused', refusal: ticketRefusal(record.state) };
    const request = { ticket, origin, protocol: pending.ws.protocol };
    const hello = signResumeHello(rt.linkKey, request, rt.nodeId, rt.now());
    let link;
    try {
      const timeoutMs = this.#runner.config.connectTimeoutMs;
      link = await dialHello(record.advertise, hello, timeoutMs, pending.signal, rt.linkTls);
    } catch (e) {
      if (pending.signal.aborted) return GONE;
      // Nothing listens on its link address: that node is not running, nor is the session.
      if ((e as NodeJS.ErrnoException).code === 'ECONNREFUSED')
        return { kind: 'refused', refusal: ticketRefusal('expired') };
      return { kind: 'retry', why: `node ${record.nodeId}: ${(e as Error).message}` };
    }
    if (pending.signal.aborted) {
      link.socket.destroy();
      return GONE;
    }
    pipeBrowserToLink(pending.ws, link.socket, pending.handOver(), link.rest);
    return { kind: 'relayed' };
  }

  /** A's side: a resume passed on by another node (`OK` was written). */
  #serve(hello: ResumeHello, socket: net.Socket, head: Buffer): void {
    const { tickets, emit } = this.#runner;
    const claim = tickets.claim(hello.ticket, hello.origin, Date.now());
    if (claim.ok) {
      // The endpoint offers every part of a `ws` WebSocket a session uses (link-endpoint.ts).
      const endpoint = new LinkEndpoint(socket, hello.protocol, head) as unknown as WebSocket;
      // The session reports its own `resumed` event.
      if (resumeSession(claim.session, endpoint, [])) return;
    }
    const why = TICKET_REFUSALS[claim.ok ? 'expired' : claim.refusal];
    socket.end(encodeCloseFrame(why.code, why.reason));
    socket.setTimeout(5000, () => socket.destroy());
    socket.resume(); // read on (and drop) until the other node closes its side
    emit({
      kind: 'refused',
      target: claim.ok ? claim.session.targetId : this.#runner.config.defaultTarget,
      remote: `node ${hello.node}`,
      closeCode: why.code,
      reason: why.reason,
    });
  }
}
