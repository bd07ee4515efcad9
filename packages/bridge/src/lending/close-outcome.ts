/**
 * What the close of a relay connection means for lending, decided without side effects: end
 * with a link state, or retry — and whether resuming the session is no longer possible
 * (resume.ts). The close codes' classes are `classifyClose` (errors.ts).
 */
import { BridgeError, classifyClose } from '../errors.ts';
import type { Connection } from './core.ts';
import type { ResumeTicket } from './resume.ts';

/** See the module comment. `closeCode` is what the state reports. */
export type CloseOutcome =
  | {
      kind: 'end';
      link: 'stopped' | 'failed' | 'refused';
      error: BridgeError;
      closeCode: number | undefined;
      isResumeOver: boolean;
    }
  | { kind: 'retry'; error: BridgeError; closeCode: number; isResumeOver: boolean };

/** The outcome of `conn` closing with `code`/`reason`; tells `resume` about it. */
export function closeOutcome(
  conn: Connection,
  code: number,
  reason: string,
  resume: ResumeTicket,
): CloseOutcome {
  if (conn.failure !== null) {
    return {
      kind: 'end',
      link: 'failed',
      error: conn.failure,
      closeCode: code,
      isResumeOver: false,
    };
  }
  const c = classifyClose(code, conn.wasOpen);
  const error = new BridgeError(c.code, {
    closeCode: code,
    source: { kind: 'relay-close', code, ...(reason === '' ? {} : { reason }) },
  });
  const verdict = resume.closed(conn.isResuming, code, c.outcome === 'refused', error);
  if (verdict.kind === 'over') {
    const first = verdict.error;
    return {
      kind: 'end',
      link: 'refused',
      error: first,
      closeCode: first.closeCode,
      isResumeOver: true,
    };
  }
  if (verdict.kind === 'token-fallback') {
    return { kind: 'retry', error, closeCode: code, isResumeOver: true };
  }
  if (c.outcome === 'reconnect')
    return { kind: 'retry', error, closeCode: code, isResumeOver: false };
  const isOrderlyEnd = c.code === 'BRIDGE_RELAY_CLOSED' || c.code === 'BRIDGE_IDLE_TIMEOUT';
  const link = c.outcome === 'refused' ? 'refused' : isOrderlyEnd ? 'stopped' : 'failed';
  return { kind: 'end', link, error, closeCode: code, isResumeOver: false };
}
