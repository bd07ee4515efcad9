/**
 * The relay CLI (`apps/relay/src/main.ts`) as a child process on a port chosen by the caller,
 * so a test can stop it and start a new one on the SAME address (the page's bridge then
 * reconnects to the address it knows). The shared fixtures' `launchRelay` always picks a
 * fresh port, which cannot model a relay restart.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { realpathSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { relayReady } from '../relay-ready.ts';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
/**
 * tsx's loader, used with `node --import` so the relay is ONE process: a signal (even SIGKILL,
 * a crash) reaches the relay itself, not a `tsx` wrapper that would leave its child holding the port.
 */
const tsxLoader = pathToFileURL(
  realpathSync(path.join(repoRoot, 'apps/relay/node_modules/tsx/dist/loader.mjs')),
).href;

/** A relay child process. */
export interface RelayProcess {
  /** `http://127.0.0.1:<port>/`: the page, served by the relay (its WebSocket is `/vscard`). */
  readonly url: string;
  readonly port: number;
  /** Everything the relay printed so far (stdout + stderr lines). */
  readonly output: string[];
  /**
   * Stops this relay (by its PID only) and waits for the exit. `SIGTERM` is the graceful
   * shutdown (browsers get close 1001, the VM gets CardRemove + ReaderRemove); `SIGKILL` is a
   * crash. Escalates to SIGKILL after `graceMs` (default 12000: the relay's own backstop is 10 s).
   */
  stop(signal?: 'SIGTERM' | 'SIGKILL', graceMs?: number): Promise<void>;
}

/**
 * Starts `node --import tsx apps/relay/src/main.ts --listen 127.0.0.1:<port> --target 127.0.0.1:<targetPort>`
 * and resolves once it prints its "Open in Chrome:" line.
 * @param readyTimeoutMs how long to wait for that line, default 60000 (tsx start-up on a busy
 *   2-core machine takes several seconds).
 * @throws Error when the relay exits or stays silent past the timeout (its output included).
 */
export async function startRelayProcess(opts: {
  port: number;
  targetPort: number;
  readyTimeoutMs?: number;
}): Promise<RelayProcess> {
  const child: ChildProcessWithoutNullStreams = spawn(
    process.execPath,
    [
      '--import',
      tsxLoader,
      'apps/relay/src/main.ts',
      '--listen',
      `127.0.0.1:${opts.port}`,
      '--target',
      `127.0.0.1:${opts.targetPort}`,
    ],
    { cwd: repoRoot, stdio: ['pipe', 'pipe', 'pipe'] },
  );
  const output: string[] = [];
  let exited = child.exitCode !== null;
  const exit = new Promise<void>((resolve) =>
    child.once('exit', () => {
      exited = true;
      resolve();
    }),
  );
  const ready = relayReady(child, output, opts.readyTimeoutMs ?? 60_000);
  const stop = async (signal: 'SIGTERM' | 'SIGKILL' = 'SIGTERM', graceMs = 12_000) => {
    if (exited) return;
    child.kill(signal);
    const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
    await exit;
    clearTimeout(timer);
  };
  if (!(await ready)) {
    await stop('SIGKILL');
    throw new Error(`relay on port ${opts.port} did not start:\n${output.join('\n')}`);
  }
  return { url: `http://127.0.0.1:${opts.port}/`, port: opts.port, output, stop };
}
