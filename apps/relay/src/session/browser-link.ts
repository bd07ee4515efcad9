/**
 * The browser side of a relay session: the WebSocket's close handshake, bounded (a browser
 * that does not complete it is cut off), and the codes the session ended with.
 */
import type { WebSocket } from 'ws';
import type { SessionTimers, TimerHandle } from './timers.ts';
import type { SessionEnd, SessionEndReason, SessionStats } from './types.ts';
import type { VmLink } from './vm-link.ts';
import { clampReason } from './wire.ts';

export class BrowserLink {
  readonly ws: WebSocket;
  readonly #timers: SessionTimers;
  readonly #closeTimeoutMs: number;
  /** Ends a close handshake that does not complete. */
  #closeTimer: TimerHandle | undefined;
  /** The WebSocket has not emitted 'close' yet. */
  isOpen: boolean;
  /** The close code the relay sent, if it closed first. */
  closeCode: number | undefined;
  closeReason = '';
  /** The close code the browser's close frame carried (1005 none, 1006 connection lost). */
  peerCloseCode: number | undefined;

  constructor(ws: WebSocket, timers: SessionTimers, closeTimeoutMs: number) {
    this.ws = ws;
    this.#timers = timers;
    this.#closeTimeoutMs = closeTimeoutMs;
    this.isOpen = ws.readyState !== ws.CLOSED;
  }

  /** Closes with `code` and `reason` (the first close wins); cut off if the handshake stalls. */
  close(code: number, reason: string): void {
    if (this.closeCode !== undefined) return;
    this.closeCode = code;
    this.closeReason = clampReason(reason);
    const ws = this.ws;
    if (ws.readyState === ws.OPEN || ws.readyState === ws.CONNECTING) {
      ws.close(code, this.closeReason);
      this.#closeTimer = this.#timers.set(BrowserLink.#terminate, this.#closeTimeoutMs, this);
    }
  }

  static #terminate(link: BrowserLink): void {
    link.#closeTimer = undefined;
    link.ws.terminate();
  }

  /** The WebSocket closed with `code`. */
  onClosed(code: number): void {
    this.peerCloseCode = code;
    this.isOpen = false;
    this.#clearTimer();
  }

  /** The session is over: no timer outlives it. */
  settle(): void {
    this.#clearTimer();
  }

  #clearTimer(): void {
    if (this.#closeTimer !== undefined) this.#timers.clear(this.#closeTimer);
    this.#closeTimer = undefined;
  }
}

/** The summary of a session that is over, from what its two sides recorded. */
export function sessionEnd(
  reason: SessionEndReason,
  browser: BrowserLink,
  vm: VmLink,
  stats: Readonly<SessionStats>,
): SessionEnd {
  return {
    reason,
    closeCode: browser.closeCode,
    closeReason: browser.closeReason,
    browserCloseCode: browser.peerCloseCode,
    endedBy: endedBy(reason),
    answeredOnCleanup: vm.answeredOnCleanup,
    isCleanupAcked: vm.isCleanupAcked,
    stats: { ...stats },
  };
}

function endedBy(reason: SessionEndReason): SessionEnd['endedBy'] {
  if (reason === 'relay-closed' || reason === 'frame-refused') return 'relay';
  return reason.startsWith('vm-') ? 'vm' : 'browser';
}
