/**
 * `pnpm relay -- --listen 127.0.0.1:8080 --target 127.0.0.1:35963`: reads the arguments,
 * starts the relay with JSON logs (pino, stdout) and metrics, prints the URL to open and the
 * QEMU options to use (stderr), and on SIGTERM/SIGINT ends every session gracefully
 * (browsers get 1001, VMs get outstanding commands answered, CardRemove and ReaderRemove).
 */
import { HELP_TEXT, parseArgs } from './config.ts';
import { isRelayError } from './errors.ts';
import { createAuditLog, createLogger } from './ops/logger.ts';
import { createRelayMetrics } from './ops/metrics.ts';
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
  const onEvent = (e: ServerEvent): void => {
    // Audit events (session start/end, refusals) come from the audit log; here only problems.
    if (e.kind === 'server-error') logger.error({ event: e.kind }, e.message);
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
  const target = config.targets[config.defaultTarget];
  const host = target?.host ?? '127.0.0.1';
  const port = target?.port ?? 35963;
  process.stderr.write(
    [
      `cardlend relay listening.`,
      ``,
      `  Open in Chrome:  ${server.url}`,
      `  VM target:       ${host}:${port}${config.tokenSecrets.length > 0 ? ' (and the targets tokens name)' : ''}`,
      ``,
      `Start the VM (QEMU) with these options:`,
      `  -device qemu-xhci -device usb-ccid \\`,
      target?.isDialIn
        ? `  -chardev socket,id=vscard,host=${host},port=${server.dialInPorts.get(config.defaultTarget) ?? port},reconnect=1,nodelay=on \\`
        : `  -chardev socket,id=vscard,host=${host},port=${port},server=on,wait=off,nodelay=on \\`,
      `  -device ccid-card-passthru,chardev=vscard`,
      ``,
      ``,
    ].join('\n'),
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
        config.tls ? 'TLS certificate reloaded' : 'no TLS configured',
      );
    } catch (e) {
      logger.error({ event: 'tls-reload' }, (e as Error).message);
    }
  });
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
}

await main();
