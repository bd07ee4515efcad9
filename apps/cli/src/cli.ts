/**
 * Entry point of the bundle: the real readers (PC/SC), WebSocket (`ws`), terminal, signals
 * and clock; then exits with the command's code once stdout and stderr are flushed (a PC/SC
 * watcher thread or a socket must not keep a finished command alive).
 */
import { WebSocket } from 'ws';
import type { BridgeWebSocket } from '@cardlend/bridge';
import { osFamilyFromPlatform } from '@cardlend/problems';
import { runCli } from './main.ts';
import { openPcscReaders } from './pcsc-readers.ts';
import { processOutput, processSignals, terminalPrompter } from './terminal.ts';

const output = processOutput();
// A reader of our output that went away (`cardlend readers | head -1`) is not a failure of ours.
for (const stream of [process.stdout, process.stderr])
  stream.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code !== 'EPIPE') throw e;
  });

function exitAfterFlush(code: number): void {
  output.flush();
  process.exitCode = code;
  process.stdout.write('', () => process.stderr.write('', () => process.exit(code)));
}

// No top-level await: the single-executable build is CommonJS.
void runCli(process.argv.slice(2), {
  readers: openPcscReaders,
  // perMessageDeflate off: APDUs are small and latency matters more than bytes.
  createWebSocket: (url, protocols) =>
    new WebSocket(url, protocols, { perMessageDeflate: false }) as unknown as BridgeWebSocket,
  output,
  prompter: terminalPrompter(),
  signals: processSignals(),
  now: () => Date.now(),
  os: osFamilyFromPlatform(process.platform),
}).then(exitAfterFlush, (e: unknown) => {
  process.stderr.write(
    `cardlend: unexpected failure: ${e instanceof Error ? e.message : String(e)}\n`,
  );
  exitAfterFlush(1);
});
