/**
 * `cardlend` as a real child process for the tests: the command itself (bin/cardlend.mjs,
 * which runs the esbuild bundle in the same process, so signals reach the command, not a
 * wrapper) or the single executable. stdin is not a terminal; stdout lines that are JSON are
 * parsed as events.
 */
import { execFileSync, spawn } from 'node:child_process';
import type { ChildProcessWithoutNullStreams } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const CLI_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const CLI_BIN = path.join(CLI_ROOT, 'bin/cardlend.mjs');

/** Builds the bundle if needed (the launcher does it on first run). */
export function ensureBundle(): void {
  execFileSync(process.execPath, [CLI_BIN, '--version'], { stdio: 'pipe' });
}

/** A JSON event line of `--json`. */
export type CliEvent = Record<string, unknown> & { event: string };

export interface CliRun {
  readonly child: ChildProcessWithoutNullStreams;
  readonly stdout: string[];
  readonly stderr: string[];
  readonly events: CliEvent[];
  /** Resolves with the exit code (or the signal that ended it). */
  readonly exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Waits for an event matching `pred` (already seen ones count). */
  waitForEvent(pred: (e: CliEvent) => boolean, what: string, timeoutMs?: number): Promise<CliEvent>;
  /** Everything printed, for failure messages. */
  transcript(): string;
}

/** Starts `cardlend <args>`; `exe` = the single executable instead of the bundle. */
export function spawnCli(
  args: readonly string[],
  opts: { env?: NodeJS.ProcessEnv; exe?: string } = {},
): CliRun {
  const [cmd, argv] =
    opts.exe === undefined ? [process.execPath, [CLI_BIN, ...args]] : [opts.exe, [...args]];
  const child = spawn(cmd, argv, {
    env: opts.env ?? process.env,
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  child.stdin.end();
  const stdout: string[] = [];
  const stderr: string[] = [];
  const events: CliEvent[] = [];
  const waiters = new Set<() => void>();
  const lines = (sink: string[], onLine?: (l: string) => void) => {
    let rest = '';
    return (chunk: Buffer) => {
      const parts = (rest + chunk.toString('utf8')).split('\n');
      rest = parts.pop() ?? '';
      for (const l of parts) {
        sink.push(l);
        onLine?.(l);
      }
      for (const w of [...waiters]) w();
    };
  };
  child.stdout.on(
    'data',
    lines(stdout, (l) => {
      if (!l.startsWith('{')) return;
      try {
        events.push(JSON.parse(l) as CliEvent);
      } catch {
        // not an event line
      }
    }),
  );
  child.stderr.on('data', lines(stderr));
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => {
      resolve({ code, signal });
      for (const w of [...waiters]) w();
    }),
  );
  let exited = false;
  void exit.then(() => (exited = true));
  const transcript = (): string =>
    `--- stdout\n${stdout.join('\n')}\n--- stderr\n${stderr.join('\n')}`;
  return {
    child,
    stdout,
    stderr,
    events,
    exit,
    transcript,
    waitForEvent(pred, what, timeoutMs = 30_000) {
      return new Promise((resolve, reject) => {
        const check = (): void => {
          const found = events.find(pred);
          if (found !== undefined) {
            done();
            resolve(found);
          } else if (exited) {
            done();
            reject(new Error(`cardlend exited before ${what}\n${transcript()}`));
          }
        };
        const timer = setTimeout(() => {
          done();
          reject(new Error(`no ${what} within ${timeoutMs} ms\n${transcript()}`));
        }, timeoutMs);
        const done = (): void => {
          clearTimeout(timer);
          waiters.delete(check);
        };
        waiters.add(check);
        check();
      });
    },
  };
}

/** Runs `cardlend <args>` to the end; resolves with its code and output. */
export async function runCliToEnd(
  args: readonly string[],
  opts: { env?: NodeJS.ProcessEnv; exe?: string; timeoutMs?: number } = {},
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const run = spawnCli(args, opts);
  const timer = setTimeout(() => run.child.kill('SIGKILL'), opts.timeoutMs ?? 30_000);
  const { code } = await run.exit;
  clearTimeout(timer);
  return { code, stdout: run.stdout.join('\n'), stderr: run.stderr.join('\n') };
}
