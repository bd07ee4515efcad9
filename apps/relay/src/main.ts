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
import { RelayError } from './errors.ts';
import { serverEventLogLine, tlsReloadLogLine, writeLogLine } from './ops/event-log.ts';
import { createAuditLog, createLogger } from './ops/logger.ts';
import { createRelayMetrics } from './ops/metrics.ts';
import { startRelayServer, type RelayServer } from './server.ts';

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
      writeLogLine(logger, tlsReloadLogLine(config));
    } catch (e) {
      writeLogLine(logger, tlsReloadLogLine(config, e as Error));
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
      onEvent: (e) => writeLogLine(logger, serverEventLogLine(e)),
      audit: createAuditLog(logger),
      metrics: createRelayMetrics(),
    });
  } catch (e) {
    process.stderr.write(`cardlend relay: ${(e as Error).message}\n`);
    process.exit(1);
  }
  // Before the banner: whoever waits for it may signal at once (SIGHUP's default ends the process).
  handleSignals(server, config, logger);
  process.stderr.write(
    relayBanner(config, {
      url: server.url,
      dialInPorts: server.dialInPorts,
      vmTlsAddress: server.vmTlsAddress,
    }),
  );
}

await main();
