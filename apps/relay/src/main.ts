/**
 * `pnpm relay -- --listen 127.0.0.1:8080 --target 127.0.0.1:35963`: reads the arguments,
 * starts the relay with JSON logs (pino, stdout) and metrics, prints the URL to open and the
 * QEMU options to use (stderr), and on SIGTERM/SIGINT ends every session gracefully
 * (browsers get 1001, VMs get outstanding commands answered, CardRemove and ReaderRemove).
 */
import { relayBanner } from './banner.ts';
import { HELP_TEXT, parseArgs } from './config.ts';
import { isRelayError } from './errors.ts';
import { createAuditLog, createLogger } from './ops/logger.ts';
import { createRelayMetrics } from './ops/metrics.ts';
import type { DialInEvent } from './dial-in.ts';
import { startRelayServer, type RelayServer, type ServerEvent } from './server.ts';

async function main(): Promise<void> {
  let parsed;
  try {
    parsed = parseArgs(process.argv.slice(2));
  } catch (e) {
    if (isRelayError(e)) {
      process.stderr.write(`cardlend relay: ${e.message}\nRun with --help for usage.\n`);
      process.exit(2);
    }
    throw e;
  }
  if (parsed.kind === 'help') {
    process.stdout.write(HELP_TEXT);
    return;
  }
  const { config } = parsed;
  const logger = createLogger();
  /** VMs dialling in: connects and disconnects at info, refusals at warn (no payloads). */
  const logDialIn = (target: string | undefined, e: DialInEvent): void => {
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
  };
  const onEvent = (e: ServerEvent): void => {
    // Audit events (session start/end, refusals) come from the audit log; here only problems.
    if (e.kind === 'server-error') logger.error({ event: e.kind }, e.message);
    else if (e.kind === 'dial-in') logDialIn(e.target, e.event);
    else if (
      e.kind === 'session-event' &&
      e.event.kind !== 'backpressure' &&
      e.event.kind !== 'cleanup'
    ) {
      logger.warn({ event: e.event.kind, sessionId: e.sessionId }, 'session problem');
    }
  };
  let server: RelayServer;
  try {
    server = await startRelayServer({
      config,
      onEvent,
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
  let isStopping = false;
  const stop = (signal: string) => {
    if (isStopping) return;
    isStopping = true;
    logger.info({ event: 'shutdown', signal }, 'closing every session');
    // Sessions end within their cleanup bounds; this is only a backstop.
    const force = setTimeout(() => process.exit(1), 10_000);
    force.unref();
    void server.close().then(() => {
      logger.flush();
      process.exit(0);
    });
  };
  process.on('SIGHUP', () => {
    try {
      server.reloadTls();
      logger.info(
        { event: 'tls-reload' },
        config.tls || config.vmTls
          ? `TLS reloaded (${[config.tls ? 'page listener' : '', config.vmTls ? 'VM listener' : ''].filter(Boolean).join(', ')})`
          : 'no TLS configured',
      );
    } catch (e) {
      logger.error({ event: 'tls-reload' }, (e as Error).message);
    }
  });
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
}

await main();
