/**
 * Runs an admitted session: the {@link RelaySession} between the WebSocket and the VM
 * connection, its heartbeat, its metrics and audit lines, and — when it ends — the release of
 * everything admission took (VM lock, token claim, session-cap slot). The frame policy
 * (session/frame-policy.ts) is plugged in here, once for every session.
 */
import { randomBytes } from 'node:crypto';
import { encodeResumeOffer } from '@cardlend/vscard/relay-contract';
import type { WebSocket } from 'ws';
import type { AdmittedSession } from './admission/types.ts';
import type { EarlyFrame } from './admission/pending-client.ts';
import type { RelayConfig } from './config/types.ts';
import type {
  HeartbeatExpiry,
  HeartbeatHandle,
  HeartbeatManager,
  HeartbeatPeer,
} from './limits/heartbeat.ts';
import { refusalClose } from './limits/refusals.ts';
import type { AuditLog, SessionStartAudit } from './ops/logger.ts';
import type { RelayMetrics } from './ops/metrics.ts';
import type { ResumeTickets } from './resume/tickets.ts';
import type { FramePolicy } from './session/frame-policy.ts';
import { RelaySession } from './session/relay-session.ts';
import type { SessionTimers } from './session/timers.ts';
import type { SessionEnd, SessionEvent, SessionHandler, SessionObserver } from './session/types.ts';
import type { ServerEvent } from './server-events.ts';

/** What every session of one server shares. */
export interface RunnerContext {
  readonly config: RelayConfig;
  readonly emit: (e: ServerEvent) => void;
  readonly metrics: RelayMetrics | undefined;
  readonly audit: AuditLog | undefined;
  readonly heartbeat: HeartbeatManager;
  /** Live sessions by target id. */
  readonly sessions: Map<string, RelaySession>;
  /** Hot-path metrics hooks (undefined without metrics). */
  readonly observer: SessionObserver | undefined;
  /** Consulted for every whole message, per direction (none: every valid message passes). */
  readonly framePolicy: FramePolicy | undefined;
  /** The sessions' timers (tests inject their own). */
  readonly timers: SessionTimers | undefined;
  /** Resume tickets of the live sessions (issue 14 §1). */
  readonly tickets: ResumeTickets<LiveSession>;
  nextSessionId: number;
}

/** Metrics hooks shared by every session. */
export function sessionObserver(metrics: RelayMetrics | undefined): SessionObserver | undefined {
  return metrics
    ? {
        bytes: (direction, count) => metrics.addBytes(direction, count),
        apduAnswered: (latencyMs) => metrics.observeApdu(latencyMs / 1000),
      }
    : undefined;
}

/** Starts the session of an admitted client; `early` are the frames it sent meanwhile. */
export function runSession(
  ctx: RunnerContext,
  ws: WebSocket,
  admitted: AdmittedSession,
  early: readonly EarlyFrame[],
): RelaySession {
  const { config } = ctx;
  const live = new LiveSession(ctx, ws, admitted);
  const pending = admitted.vm.pending;
  const session = new RelaySession({
    ws,
    tcp: admitted.vm.socket,
    cleanupAckTimeoutMs: config.cleanupAckTimeoutMs,
    maxBufferedToBrowserBytes: config.maxBufferedToBrowserBytes,
    handler: live,
    activity: live.heartbeat,
    messageRate: config.messageRate,
    slowReaderTimeoutMs: config.slowReaderTimeoutMs,
    initialMessages: early,
    ...(pending && pending.length > 0 ? { initialVmBytes: pending } : {}),
    ...(ctx.observer ? { observer: ctx.observer } : {}),
    ...(ctx.framePolicy ? { framePolicy: ctx.framePolicy } : {}),
    ...(ctx.timers ? { timers: ctx.timers } : {}),
  });
  live.session = session;
  if (admitted.client.isResumeCapable) live.offerResume();
  admitted.lock.session = session;
  ctx.sessions.set(admitted.targetId, session);
  ctx.metrics?.sessionStarted();
  ctx.audit?.sessionStart(live.audit);
  ctx.emit({
    kind: 'session-start',
    sessionId: live.sessionId,
    target: admitted.targetId,
    remote: admitted.client.remote,
  });
  ws.resume();
  return session;
}

/**
 * A reconnect presented `live`'s resume ticket (claimed already): its WebSocket takes over the
 * parked (or not yet noticed as dropped) session, with a fresh ticket. False when the session
 * is already ending (the caller refuses the client as expired).
 */
export function resumeSession(
  live: LiveSession,
  ws: WebSocket,
  early: readonly EarlyFrame[],
): boolean {
  const session = live.session;
  if (session === undefined || !session.resumeWith(ws, early)) return false;
  live.ws = ws;
  live.offerResume();
  ws.resume();
  return true;
}

/**
 * An admitted session's server-side state: heartbeat peer and RelaySession handler in one
 * object, so an idle session holds no closures and no pending promise of its own.
 */
export class LiveSession implements HeartbeatPeer, SessionHandler {
  readonly ctx: RunnerContext;
  ws: WebSocket;
  readonly sessionId: number;
  readonly targetId: string;
  /** The target's configuration (its endpoint for the audit lines). */
  readonly target: AdmittedSession['target'];
  readonly clientAddress: string;
  readonly origin: string | undefined;
  // What admission took, released when the session ends (not the request or its token).
  readonly #lock: AdmittedSession['lock'];
  readonly #cap: AdmittedSession['cap'];
  readonly #lease: AdmittedSession['lease'];
  readonly startedAt = Date.now();
  readonly heartbeat: HeartbeatHandle;
  session: RelaySession | undefined;

  constructor(ctx: RunnerContext, ws: WebSocket, admitted: AdmittedSession) {
    this.ctx = ctx;
    this.ws = ws;
    this.sessionId = ctx.nextSessionId++;
    this.targetId = admitted.targetId;
    this.target = admitted.target;
    this.clientAddress = admitted.client.clientAddress;
    this.origin = admitted.client.origin;
    this.#lock = admitted.lock;
    this.#cap = admitted.cap;
    this.#lease = admitted.lease;
    this.heartbeat = ctx.heartbeat.add(this);
  }

  /**
   * The session's audit fields, made for each audit line: an idle session keeps no copy of
   * them (nor the endpoint's text).
   */
  get audit(): SessionStartAudit {
    const { target, origin } = this;
    return {
      sessionId: String(this.sessionId),
      targetId: this.targetId,
      target: `${target.host}:${target.port}`,
      clientAddress: this.clientAddress,
      ...(origin !== undefined ? { origin } : {}),
    };
  }

  /**
   * Hands the client a resume ticket (a text frame; it offered `cardlend.resume.v1`) and lets
   * the session park after a drop (issue 14 §1). Nothing when resuming is off.
   *
   * A relay alone offers it at once. A cluster node offers it once the ticket's record is in
   * the store (cluster/ticket-directory.ts), so that a reconnect reaching any node right after
   * the offer finds it; the session relays meanwhile, and a drop before the offer ends it as
   * on a relay without resuming (after a resume too: the ticket it came with is used up). No
   * offer when the session ended, or its connection changed or closed, before the record was
   * written.
   */
  offerResume(): void {
    const graceMs = this.ctx.config.resumeGraceMs;
    if (graceMs <= 0 || this.session === undefined) return;
    const { tickets } = this.ctx;
    const ticket = tickets.issue(this, this.origin, randomBytes(16), Date.now());
    const recorded = tickets.recorded(ticket);
    if (recorded === undefined) return this.#offer(ticket, this.ws);
    // Until the offer, the client holds no ticket that works (a resumed one used its own up):
    // a drop ends the session rather than parking it for nobody.
    this.session.enableResume(0);
    const ws = this.ws;
    recorded
      .then((isRecorded) => {
        if (isRecorded && this.ws === ws && ws.readyState === ws.OPEN) this.#offer(ticket, ws);
      })
      .catch((e: unknown) => {
        const message = `resume offer: ${(e as Error).message}`;
        this.ctx.emit({ kind: 'server-error', message });
      });
  }

  #offer(ticket: string, ws: WebSocket): void {
    const graceMs = this.ctx.config.resumeGraceMs;
    ws.send(encodeResumeOffer({ ticket, graceMs }));
    this.session?.enableResume(graceMs);
  }

  ping(): void {
    if (this.ws.readyState === this.ws.OPEN) this.ws.ping();
  }

  activityCount(): number {
    return this.session?.messageCount ?? 0;
  }

  /**
   * The heartbeat's verdict; its entry is paused until the session's end removes it or a
   * resume restarts it (see {@link onSessionEvent}).
   */
  expire(kind: HeartbeatExpiry): void {
    const session = this.session;
    // Parked: the resume grace decides (issue 14 §1).
    if (session?.isParked === true) return;
    if (kind === 'heartbeat-timeout' && session?.isResumable === true) {
      // A dead connection (no pong) is a drop like any other: cut it and let the session park
      // (or end, when it cannot park).
      this.ctx.metrics?.refused(kind);
      this.ws.terminate();
      return;
    }
    const { code, reason } = refusalClose(kind);
    this.ctx.metrics?.refused(kind);
    this.session?.close(code, reason);
  }

  /**
   * Metrics of the session's events, and its heartbeat following the browser side: a parked
   * session is neither pinged nor timed out (its resume grace decides), a resumed one is
   * watched as a fresh one — locally or through another node's link alike.
   */
  onSessionEvent(event: SessionEvent): void {
    if (event.kind === 'limit') this.ctx.metrics?.refused(event.refusal);
    else if (event.kind === 'notice') this.ctx.metrics?.notice?.(event.notice.code);
    else if (event.kind === 'parked') this.heartbeat.pause();
    else if (event.kind === 'resumed') this.heartbeat.restart();
    this.ctx.emit({ kind: 'session-event', sessionId: this.sessionId, event });
  }

  onSessionEnd(end: SessionEnd): void {
    const { ctx, targetId } = this;
    ctx.tickets.ended(this, Date.now());
    this.heartbeat.remove();
    if (ctx.sessions.get(targetId) === this.session) ctx.sessions.delete(targetId);
    this.#lock.release();
    this.#cap.release();
    this.#lease?.release();
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
    ctx.emit({ kind: 'session-end', sessionId: this.sessionId, target: targetId, end });
  }
}
