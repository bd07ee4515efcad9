/**
 * Which server events become log lines, at which level and with which text (pure; main.ts
 * writes them with {@link writeLogLine}). Audit events (session start/end, refusals) come from
 * the audit log (ops/logger.ts); here only dial-in VMs, the operator API's refusals, resumes,
 * problems and the SIGHUP TLS reload. Never payloads.
 */
import type { Logger } from 'pino';
import type { RelayConfig } from '../config.ts';
import type { DialInEvent } from '../dial-in.ts';
import type { ServerEvent } from '../server-events.ts';

/** One log line: `logger[level](fields, message)`. */
export interface LogLine {
  readonly level: 'info' | 'warn' | 'error';
  readonly fields: Readonly<Record<string, unknown>>;
  readonly message: string;
}

/** VMs dialling in: connects and disconnects at info, refusals at warn (no payloads). */
function dialInLogLine(target: string | undefined, e: DialInEvent): LogLine | undefined {
  const base = { event: `dial-in-${e.kind}`, target };
  switch (e.kind) {
    case 'vm-connected':
      return { level: 'info', fields: { ...base, remote: e.remote }, message: 'VM connected' };
    case 'vm-disconnected':
      return { level: 'info', fields: { ...base, remote: e.remote }, message: 'VM disconnected' };
    case 'vm-refused':
      return {
        level: 'warn',
        fields: { ...base, remote: e.remote, reason: e.reason },
        message: 'VM connection refused',
      };
    case 'error':
      return { level: 'error', fields: base, message: e.message };
    case 'parked-guest-command-answered':
      return undefined; // per guest command: metrics material, not a log line
  }
}

/** Resuming a dropped lending session (issue 14 §1): ordinary events, not problems. */
const RESUME_LOG = {
  parked: 'browser dropped; lending session kept for a resume',
  resumed: 'lending session resumed',
  'resume-expired': 'lending session not resumed in time; removing the card',
} as const;

/** A session's event as a log line: notices and problems at warn, resumes at info. */
function sessionLogLine(e: Extract<ServerEvent, { kind: 'session-event' }>): LogLine | undefined {
  const { sessionId, event } = e;
  if (event.kind === 'notice') {
    const { code, message, fields } = event.notice;
    return { level: 'warn', fields: { event: code, sessionId, ...fields }, message };
  }
  if (event.kind in RESUME_LOG) {
    const kind = event.kind as keyof typeof RESUME_LOG;
    return { level: 'info', fields: { event: kind, sessionId }, message: RESUME_LOG[kind] };
  }
  if (event.kind === 'backpressure' || event.kind === 'cleanup') return undefined;
  return { level: 'warn', fields: { event: event.kind, sessionId }, message: 'session problem' };
}

/** The log line of a server event, or undefined for events the audit log or metrics carry. */
export function serverEventLogLine(e: ServerEvent): LogLine | undefined {
  switch (e.kind) {
    case 'server-error':
      return { level: 'error', fields: { event: e.kind }, message: e.message };
    case 'dial-in':
      return dialInLogLine(e.target, e.event);
    case 'operator-refused':
      return {
        level: 'warn',
        fields: { event: e.kind, remote: e.remote, reason: e.reason },
        message: 'operator API connection refused',
      };
    case 'session-event':
      return sessionLogLine(e);
    default:
      return undefined;
  }
}

/** The SIGHUP line: which listeners re-read their TLS files, or why the reload failed. */
export function tlsReloadLogLine(
  config: Pick<RelayConfig, 'tls' | 'vmTls' | 'operator' | 'cluster'>,
  error?: Error,
): LogLine {
  const fields = { event: 'tls-reload' };
  if (error) return { level: 'error', fields, message: error.message };
  const parts = [
    config.tls ? 'page listener' : '',
    config.vmTls ? 'VM listener' : '',
    config.operator?.tls ? 'operator API' : '',
    config.cluster?.linkTls ? 'cluster link' : '',
  ].filter(Boolean);
  const message = parts.length > 0 ? `TLS reloaded (${parts.join(', ')})` : 'no TLS configured';
  return { level: 'info', fields, message };
}

/** Writes `line` (if any) to `logger`. */
export function writeLogLine(logger: Logger, line: LogLine | undefined): void {
  if (line) logger[line.level](line.fields, line.message);
}
