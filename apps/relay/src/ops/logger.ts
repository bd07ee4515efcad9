/**
 * JSON logs (pino) and the audit trail (issue 6, "Operations": audit events for session
 * start and end, target, client address, APDU count, bytes, close reason; never APDU
 * payloads). Three layers keep secrets out:
 * 1. audit events copy an explicit allowlist of fields, so extra fields never reach a line;
 * 2. pino `redact` censors well-known secret paths in any other log call;
 * 3. every string (message and fields) is scrubbed of anything shaped like a session
 *    token or a token subprotocol.
 *
 * Integration (main.ts, websocket-front.ts, session-runner.ts): `const logger = createLogger({ level: config.logLevel })`,
 * `const audit = createAuditLog(logger)`; call `audit.sessionStart(...)` once a session is
 * admitted, `audit.sessionEnd(...)` once it is fully closed, `audit.refusal(...)` for each
 * refused connection. Never pass request headers wholesale.
 */
import { pino, type DestinationStream, type Level, type Logger } from 'pino';
import type { RefusalKind } from '../limits/refusals.ts';

/** Paths pino censors in any log object. */
export const REDACTED_PATHS = [
  'token',
  '*.token',
  'apdu',
  '*.apdu',
  'payload',
  '*.payload',
  'data',
  '*.data',
  'headers["sec-websocket-protocol"]',
  '*.headers["sec-websocket-protocol"]',
  'headers.authorization',
  '*.headers.authorization',
  'headers.cookie',
  '*.headers.cookie',
  'secret',
  '*.secret',
  'ticket',
  '*.ticket',
];

/**
 * Matches session tokens (`v1.<b64url>.<43 b64url>`), token subprotocols, resume tickets
 * (`r1.<22 b64url>`) and ticket subprotocols anywhere in a string.
 */
const TOKEN_SHAPES =
  /cardlend\.(?:token|ticket)\.[A-Za-z0-9._-]*|v1\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{43}|(?<![A-Za-z0-9_-])r1\.[A-Za-z0-9_-]{22}(?![A-Za-z0-9_-])/g;

/** Replaces every token-shaped substring with `[redacted]`. */
export function scrubSecrets(text: string): string {
  return text.replace(TOKEN_SHAPES, '[redacted]');
}

function scrubDeep(value: unknown, depth: number): unknown {
  if (typeof value === 'string') return scrubSecrets(value);
  if (depth > 6 || typeof value !== 'object' || value === null) return value;
  if (value instanceof Uint8Array) return `[${value.byteLength} bytes]`;
  if (Array.isArray(value)) return value.map((v) => scrubDeep(v, depth + 1));
  if (value instanceof Error) {
    // Stays an Error, so pino's error serializer still applies (type, message, stack, code).
    const copy = new Error(scrubSecrets(value.message));
    copy.name = value.name;
    copy.stack = scrubSecrets(value.stack ?? '');
    const code = (value as { code?: unknown }).code;
    if (code !== undefined) Object.assign(copy, { code });
    return copy;
  }
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) out[k] = scrubDeep(v, depth + 1);
  return out;
}

/** Options of {@link createLogger}. */
export interface LoggerOptions {
  /** Least level written; default 'info'. */
  readonly level?: Level | 'silent';
  /** Where lines go; default stdout (fd 1, asynchronous). Tests pass a stream. */
  readonly destination?: DestinationStream;
  /** `name` field of every line; default 'cardlend-relay'. */
  readonly name?: string;
}

/** A pino logger with the relay's redaction. */
export function createLogger(opts: LoggerOptions = {}): Logger {
  return pino(
    {
      name: opts.name ?? 'cardlend-relay',
      level: opts.level ?? 'info',
      redact: { paths: REDACTED_PATHS, censor: '[redacted]' },
      formatters: { log: (object) => scrubDeep(object, 0) as Record<string, unknown> },
      hooks: {
        logMethod(args, method) {
          const scrubbed = args.map((a) =>
            typeof a === 'string' ? scrubSecrets(a) : a,
          ) as typeof args;
          method.apply(this, scrubbed);
        },
      },
    },
    opts.destination ?? pino.destination({ dest: 1, sync: false }),
  );
}

/** Who ended a session. */
export type SessionEndedBy = 'browser' | 'vm' | 'relay';

/** Fields of the `session-start` audit event. */
export interface SessionStartAudit {
  /** Relay-chosen id of the session (not the token id). */
  readonly sessionId: string;
  /** Target id from the token (or 'default' without tokens). */
  readonly targetId: string;
  /** The VM endpoint, `host:port`. */
  readonly target: string;
  /** Client address (auth/forwarded.ts). */
  readonly clientAddress: string;
  /** The page's Origin header, if any. */
  readonly origin?: string;
}

/** Fields of the `session-end` audit event. */
export interface SessionEndAudit extends SessionStartAudit {
  /** Guest commands answered (APDU exchanges). */
  readonly apduCount: number;
  /** Bytes written to the VM (VSCard messages, headers included). */
  readonly bytesToVm: number;
  /** Bytes sent to the browser. */
  readonly bytesToBrowser: number;
  /** Session duration, ms. */
  readonly durationMs: number;
  /** WebSocket close code sent or received. */
  readonly closeCode: number;
  /** Close reason (≤ 123 bytes). */
  readonly closeReason: string;
  readonly endedBy: SessionEndedBy;
}

/** Fields of the `refusal` audit event. */
export interface RefusalAudit {
  readonly kind: RefusalKind;
  readonly clientAddress: string;
  readonly targetId?: string;
  readonly origin?: string;
}

/** The audit trail: one `info` line per event, `event` naming it. */
export interface AuditLog {
  sessionStart(e: SessionStartAudit): void;
  sessionEnd(e: SessionEndAudit): void;
  refusal(e: RefusalAudit): void;
}

function pick<T extends object>(source: T, keys: readonly (keyof T)[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const k of keys) if (source[k] !== undefined) out[k as string] = source[k];
  return out;
}

const START_KEYS = ['sessionId', 'targetId', 'target', 'clientAddress', 'origin'] as const;
const END_KEYS = [
  ...START_KEYS,
  'apduCount',
  'bytesToVm',
  'bytesToBrowser',
  'durationMs',
  'closeCode',
  'closeReason',
  'endedBy',
] as const;
const REFUSAL_KEYS = ['kind', 'clientAddress', 'targetId', 'origin'] as const;

/** The audit trail over `logger` (fields are copied by allowlist). */
export function createAuditLog(logger: Logger): AuditLog {
  return {
    sessionStart: (e) =>
      logger.info({ event: 'session-start', ...pick(e, START_KEYS) }, 'session started'),
    sessionEnd: (e) => logger.info({ event: 'session-end', ...pick(e, END_KEYS) }, 'session ended'),
    refusal: (e) =>
      logger.info({ event: 'refusal', ...pick(e, REFUSAL_KEYS) }, 'connection refused'),
  };
}
