/**
 * `pnpm relay -- --listen 127.0.0.1:8080 --target 127.0.0.1:35963`: reads the arguments,
 * starts the relay, prints the URL to open and the QEMU options to use.
 */
import { RelayClose } from '@cardlend/vscard';
import { HELP_TEXT, parseArgs } from './config.ts';
import { isRelayError } from './errors.ts';
import { startRelayServer, type ServerEvent } from './server.ts';

function log(e: ServerEvent): void {
  // One JSON line per event, never payload bytes.
  const line = e.kind === 'session-end' ? { ...e, end: { ...e.end } } : e;
  process.stderr.write(JSON.stringify({ time: new Date().toISOString(), ...line }) + '\n');
}

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
  let server;
  try {
    server = await startRelayServer({ config, onEvent: log });
  } catch (e) {
    process.stderr.write(`cardlend relay: ${(e as Error).message}\n`);
    process.exit(1);
  }
  const target = config.targets[config.defaultTarget];
  const host = target?.host ?? '127.0.0.1';
  const port = target?.port ?? 35963;
  process.stdout.write(
    [
      `cardlend relay listening.`,
      ``,
      `  Open in Chrome:  ${server.url}`,
      `  VM target:       ${host}:${port}`,
      ``,
      `Start the VM (QEMU) with these options:`,
      `  -device qemu-xhci -device usb-ccid \\`,
      `  -chardev socket,id=vscard,host=${host},port=${port},server=on,wait=off,nodelay=on \\`,
      `  -device ccid-card-passthru,chardev=vscard`,
      ``,
    ].join('\n'),
  );
  let isStopping = false;
  const stop = (signal: string) => {
    if (isStopping) process.exit(1);
    isStopping = true;
    process.stderr.write(
      `cardlend relay: ${signal}, closing sessions (${RelayClose.GOING_AWAY})...\n`,
    );
    const force = setTimeout(() => process.exit(1), 5000);
    force.unref();
    void server.close().then(() => process.exit(0));
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
}

await main();
