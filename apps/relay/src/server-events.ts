/**
 * What a running relay tells its owner (main.ts prints it; tests collect it): session starts
 * and ends, refusals, dial-in VM connections, problems. Never payloads or tokens.
 */
import type { DialInEvent } from './dial-in.ts';
import type { RefusalKind } from './limits/refusals.ts';
import type { SessionEnd, SessionEvent } from './session/types.ts';

export type ServerEvent =
  | { kind: 'session-start'; sessionId: number; target: string; remote: string }
  | { kind: 'session-end'; sessionId: number; target: string; end: SessionEnd }
  | { kind: 'session-event'; sessionId: number; event: SessionEvent }
  | {
      kind: 'refused';
      target: string;
      remote: string;
      closeCode: number;
      reason: string;
      /** The refusal kind (limits/refusals.ts), when it is one of them. */
      refusal?: RefusalKind;
    }
  | { kind: 'upgrade-refused'; status: number; reason: string; remote: string }
  | { kind: 'server-error'; message: string }
  /** A connection to the operator API refused before any request (failed TLS handshake). */
  | { kind: 'operator-refused'; remote: string; reason: string }
  /**
   * A dial-in VM connection's event. `target` is undefined for connections to the shared TLS
   * listener that name no target (failed handshake, unknown certificate): those are refused.
   */
  | { kind: 'dial-in'; target: string | undefined; event: DialInEvent };
