/**
 * `pnpm relay -- --listen 127.0.0.1:8080 --target 127.0.0.1:35963` (run as `node dist/main.js`
 * from the bundle): reads the arguments, starts the relay with JSON logs (pino, stdout) and
 * metrics, prints the URL to open and the QEMU options to use (stderr), re-reads TLS files on
 * SIGHUP, and on SIGTERM/SIGINT ends every session it runs gracefully (browsers get 1001, VMs
 * get outstanding commands answered, CardRemove and ReaderRemove); a cluster node cuts the
 * browsers it only pipes to another node's session without a close frame, so they resume.
 */
import type { Logger } from 'pino';
import { relayBanner } from './banner.ts';
import { HELP_TEXT, parseArgs, type RelayConfig } from './config.ts';
import type { DialInEvent } from './dial-in.ts';
import { RelayError } from './errors.ts';
import { createAuditLog, createLogger } from './ops/logger.ts';
import { createRelayMetrics } from './ops/metrics.ts';
import { startRelayServer, type RelayServer, type ServerEvent } from './server.ts';

/** The configuration, or exit 2 with one precise line (or 0 after printing the help). */
function configOrExit(argv: readonly string[]): RelayConfig | undefined {
  try {
    const parsed = parseArgs(argv);
    if (parsed.kind === 'help') {
      process.stdout.write(HELP_TEXT);
      return undefined;
    }
    return parsed.config;
  } catch (e) {
    if (!(e instanceof RelayError)) throw e;
    process.stderr.write(`cardlend relay: ${e.message}\nRun with --help for usage.\n`);
    process.exit(2);
  }
}

/** VMs dialling in: connects and disconnects at info, refusals at warn (no payloads). */
function logDialIn(logger: Logger, target: string | undefined, e: DialInEvent): void {
  const base = { event: `dial-in-${e.kind}`, target };
  switch (e.kind) {
    case 'vm-connected':
      logger.info({ ...base, remote: e.remote }, 'VM connected');
      break;
    case 'vm-disconnected':
      logger.info({ ...base, remote: e.remote }, 'VM disconnected');
      break;
    case 'vm-refused':
      logger.warn({ ...base, remote: e.remote, reason: e.reason }, 'VM connection refused');
      break;
    case 'error':
      logger.error(base, e.message);
      break;
    case 'parked-guest-command-answered':
      break; // per guest command: metrics material, not a log line
  }
}

/** Resuming a dropped lending session (issue 14 §1): ordinary events, not problems. */
const RESUME_LOG = {
  parked: 'browser dropped; lending session kept for a resume',
  resumed: 'lending session resumed',
  'resume-expired': 'lending session not resumed in time; removing the card',
} as const;

/** Audit events (session start/end, refusals) come from the audit log; here only problems. */
function logServerEvent(logger: Logger, e: ServerEvent): void {
  if (e.kind === 'server-error') logger.error({ event: e.kind }, e.message);
  else if (e.kind === 'dial-in') logDialIn(logger, e.target, e.event);
  else if (e.kind === 'operator-refused')
    logger.warn(
      { event: e.kind, remote: e.remote, reason: e.reason },
      'operator API connection refused',
    );
  else if (e.kind === 'session-event' && e.event.kind === 'notice') {
    const { code, message, fields } = e.event.notice;
    logger.warn({ event: code, sessionId: e.sessionId, ...fields }, message);
  } else if (e.kind === 'session-event' && e.event.kind in RESUME_LOG) {
    const kind = e.event.kind as keyof typeof RESUME_LOG;
    logger.info({ event: kind, sessionId: e.sessionId }, RESUME_LOG[kind]);
  } else if (
    e.kind === 'session-event' &&
    e.event.kind !== 'backpressure' &&
    e.event.kind !== 'cleanup'
  ) {
    logger.warn({ event: e.event.kind, sessionId: e.sessionId }, 'session problem');
  }
}

/** SIGHUP re-reads TLS files; SIGTERM/SIGINT close every session, then exit 0. */
function handleSignals(server: RelayServer, config: RelayConfig, logger: Logger): void {
  let isStopping = false;
  const stop = (signal: string) => {
    if (isStopping) return;
    isStopping = true;
    logger.info({ event: 'shutdown', signal }, 'closing every session');
    // Sessions end within their cleanup bounds; this is only a backstop.
    setTimeout(() => process.exit(1), 10_000).unref();
    void server.close().then(() => {
      logger.flush();
      process.exit(0);
    });
  };
  process.on('SIGHUP', () => {
    try {
      server.reloadTls();
      const parts = [
        config.tls ? 'page listener' : '',
        config.vmTls ? 'VM listener' : '',
        config.operator?.tls ? 'operator API' : '',
      ];
      logger.info(
        { event: 'tls-reload' },
        parts.some(Boolean)
          ? `TLS reloaded (${parts.filter(Boolean).join(', ')})`
          : 'no TLS configured',
      );
    } catch (e) {
      logger.error({ event: 'tls-reload' }, (e as Error).message);
    }
  });
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
}

async function main(): Promise<void> {
  const config = configOrExit(process.argv.slice(2));
  if (!config) return;
  const logger = createLogger();
  let server: RelayServer;
  try {
    server = await startRelayServer({
      config,
      onEvent: (e) => logServerEvent(logger, e),
      audit: createAuditLog(logger),
      metrics: createRelayMetrics(),
    });
  } catch (e) {
    process.stderr.write(`cardlend relay: ${(e as Error).message}\n`);
    process.exit(1);
  }
  process.stderr.write(
    relayBanner(config, {
      url: server.url,
      dialInPorts: server.dialInPorts,
      vmTlsAddress: server.vmTlsAddress,
    }),
  );
  handleSignals(server, config, logger);
}

await main();
