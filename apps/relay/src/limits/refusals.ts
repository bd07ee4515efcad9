/**
 * Every refusal the relay makes, mapped to a WebSocket close code and a reason the page
 * can show (issue 6: "Every refusal has a WebSocket close code and reason"). Codes come
 * from the browser⇄relay contract (`RelayClose`, packages/vscard/src/relay-close.ts);
 * reasons are ≤ 123 bytes of UTF-8 (RFC 6455 §5.5: a control frame body is ≤ 125 bytes,
 * 2 of which hold the code).
 *
 * Integration (admission/steps.ts `refusalOf`, session/relay-session.ts): `const { code, reason } = refusalClose('origin-refused'); ws.close(code, reason)`,
 * and `metrics.refused(kind)` (ops/metrics.ts) with the same kind.
 */
import { RelayClose, type RelayCloseCode } from '@cardlend/vscard';
import type { LedgerRefusal, TokenRefusal } from '../auth/tokens.ts';

/** Largest close reason, bytes of UTF-8 (RFC 6455 §5.5). */
export const MAX_CLOSE_REASON_BYTES = 123;

/** The refusals, with their close code and the sentence the page shows. */
export const REFUSALS = {
  'token-missing': {
    code: RelayClose.UNAUTHORIZED,
    reason: 'A session token is required. Open the link you were given.',
  },
  'token-malformed': {
    code: RelayClose.UNAUTHORIZED,
    reason: 'The session token is damaged. Open the link again.',
  },
  'token-forged': {
    code: RelayClose.UNAUTHORIZED,
    reason: 'The session token is not valid for this relay.',
  },
  'token-expired': {
    code: RelayClose.UNAUTHORIZED,
    reason: 'The session link has expired. Ask for a new one.',
  },
  'token-unknown-target': {
    code: RelayClose.UNAUTHORIZED,
    reason: 'The session token names a VM this relay does not serve.',
  },
  'token-used': {
    code: RelayClose.TOKEN_USED,
    reason: 'This session link was already used. Ask for a new one.',
  },
  'token-in-use': {
    code: RelayClose.TOKEN_USED,
    reason: 'This session link is in use in another tab or browser.',
  },
  'token-ledger-full': {
    code: RelayClose.RATE_LIMITED,
    reason: 'The relay is too busy to accept new sessions. Try again later.',
  },
  'bad-auth-message': {
    code: RelayClose.UNAUTHORIZED,
    reason: 'The first message must be {"token": "..."}.',
  },
  'auth-timeout': { code: RelayClose.AUTH_TIMEOUT, reason: 'No session token arrived in time.' },
  'origin-missing': {
    code: RelayClose.ORIGIN_REFUSED,
    reason: 'The request has no Origin; only allowed web pages may connect.',
  },
  'origin-refused': {
    code: RelayClose.ORIGIN_REFUSED,
    reason: 'This web page is not allowed to use the relay.',
  },
  'origin-too-long': {
    code: RelayClose.ORIGIN_REFUSED,
    reason: "This web page's address (its Origin) is longer than the relay accepts.",
  },
  'sessions-global': {
    code: RelayClose.RATE_LIMITED,
    reason: 'The relay has too many sessions. Try again later.',
  },
  'sessions-per-address': {
    code: RelayClose.RATE_LIMITED,
    reason: 'Too many sessions from your network address.',
  },
  'message-rate': { code: RelayClose.RATE_LIMITED, reason: 'The browser sent messages too fast.' },
  'frame-too-big': {
    code: RelayClose.MESSAGE_TOO_BIG,
    reason: 'A message was larger than the largest VSCard message.',
  },
  'bad-frame': {
    code: RelayClose.BAD_FRAME,
    reason: 'The browser sent something that is not one valid VSCard message.',
  },
  'vm-in-use': {
    code: RelayClose.VM_IN_USE,
    reason: 'Another browser already lends a card to this VM.',
  },
  'idle-timeout': { code: RelayClose.IDLE_TIMEOUT, reason: 'The session was idle for too long.' },
  'heartbeat-timeout': {
    code: RelayClose.IDLE_TIMEOUT,
    reason: 'The browser stopped answering heartbeats.',
  },
  'slow-reader': {
    code: RelayClose.RATE_LIMITED,
    reason: 'The browser did not read its messages fast enough.',
  },
  'cluster-unavailable': {
    code: RelayClose.CLUSTER_UNAVAILABLE,
    reason: 'The relay cannot reach its cluster store; new sessions are refused. Try again soon.',
  },
  shutdown: {
    code: RelayClose.GOING_AWAY,
    reason: 'The relay is restarting. Reconnect in a moment.',
  },
} as const satisfies Record<string, { code: RelayCloseCode; reason: string }>;

/** A refusal kind: also the `reason` label of the refusals metric. */
export type RefusalKind = keyof typeof REFUSALS;

/** All refusal kinds (for pre-registering metric labels). */
export const REFUSAL_KINDS = Object.keys(REFUSALS) as RefusalKind[];

/**
 * Cuts `text` to at most `maxBytes` bytes of UTF-8 without splitting a character
 * (default {@link MAX_CLOSE_REASON_BYTES}). Lone surrogates become U+FFFD first.
 */
export function clampCloseReason(text: string, maxBytes: number = MAX_CLOSE_REASON_BYTES): string {
  const bytes = new TextEncoder().encode(text);
  if (bytes.byteLength <= maxBytes) return new TextDecoder().decode(bytes);
  let end = maxBytes;
  // Back up to a character boundary: UTF-8 continuation bytes are 10xxxxxx (RFC 3629 §3).
  while (end > 0 && ((bytes[end] ?? 0) & 0xc0) === 0x80) end--;
  return new TextDecoder().decode(bytes.subarray(0, end));
}

/** The close code and reason for a refusal; `detail` (optional) is appended, clamped to 123 bytes. */
export function refusalClose(
  kind: RefusalKind,
  detail?: string,
): { readonly code: RelayCloseCode; readonly reason: string } {
  const r = REFUSALS[kind];
  return {
    code: r.code,
    reason: clampCloseReason(detail === undefined ? r.reason : `${r.reason} ${detail}`),
  };
}

/** Maps a token verification or ledger refusal to its refusal kind. */
export function refusalForToken(reason: TokenRefusal | LedgerRefusal): RefusalKind {
  switch (reason) {
    case 'malformed':
      return 'token-malformed';
    case 'forged':
      return 'token-forged';
    case 'expired':
      return 'token-expired';
    case 'unknown-target':
      return 'token-unknown-target';
    case 'used':
      return 'token-used';
    case 'in-use':
      return 'token-in-use';
    case 'full':
      return 'token-ledger-full';
  }
}
