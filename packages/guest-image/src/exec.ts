/** Child-process helpers for the host tools the builder drives (apt-get, dpkg-deb, tar, xz). */
import { spawn } from 'node:child_process';
import { GuestImageError } from './errors.ts';

/** Result of a finished command. */
export interface ExecResult {
  stdout: Buffer;
  stderr: string;
}

/**
 * Runs a command (no shell), optionally feeding `input` on stdin.
 * @throws GuestImageError GUEST_TOOL_FAILED when it cannot start or exits non-zero (stderr in the message).
 */
export function run(
  command: string,
  args: readonly string[],
  opts: { cwd?: string; input?: Uint8Array; env?: NodeJS.ProcessEnv } = {},
): Promise<ExecResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, {
      cwd: opts.cwd,
      env: opts.env ?? process.env,
      stdio: [opts.input ? 'pipe' : 'ignore', 'pipe', 'pipe'],
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout?.on('data', (c: Buffer) => out.push(c));
    child.stderr?.on('data', (c: Buffer) => err.push(c));
    child.on('error', (cause) =>
      reject(new GuestImageError('GUEST_TOOL_FAILED', `cannot run ${command}`, { cause })),
    );
    if (opts.input) {
      child.stdin?.on('error', () => undefined); // the exit status reports the failure
      child.stdin?.end(opts.input);
    }
    child.on('close', (code, signal) => {
      const stderr = Buffer.concat(err).toString('utf8');
      if (code === 0) resolve({ stdout: Buffer.concat(out), stderr });
      else
        reject(
          new GuestImageError(
            'GUEST_TOOL_FAILED',
            `${command} ${args.slice(0, 4).join(' ')}… exited with ${code ?? signal}: ${stderr.trim().slice(-2000)}`,
          ),
        );
    });
  });
}

/** Runs `a | b` (stdout of the first into stdin of the second), e.g. dpkg-deb --fsys-tarfile | tar. */
export function pipe2(
  a: { command: string; args: readonly string[] },
  b: { command: string; args: readonly string[] },
): Promise<void> {
  return new Promise((resolve, reject) => {
    const first = spawn(a.command, a.args, { stdio: ['ignore', 'pipe', 'pipe'] });
    const second = spawn(b.command, b.args, { stdio: ['pipe', 'ignore', 'pipe'] });
    let errText = '';
    first.stderr.on('data', (c: Buffer) => (errText += c.toString('utf8')));
    second.stderr.on('data', (c: Buffer) => (errText += c.toString('utf8')));
    first.stdout.pipe(second.stdin);
    second.stdin.on('error', () => undefined);
    let pending = 2;
    let failed = false;
    const done = (name: string) => (code: number | null) => {
      if (code !== 0 && !failed) {
        failed = true;
        reject(
          new GuestImageError(
            'GUEST_TOOL_FAILED',
            `${name} exited with ${code}: ${errText.trim().slice(-2000)}`,
          ),
        );
      }
      if (--pending === 0 && !failed) resolve();
    };
    first.on('error', (cause) =>
      reject(new GuestImageError('GUEST_TOOL_FAILED', `cannot run ${a.command}`, { cause })),
    );
    second.on('error', (cause) =>
      reject(new GuestImageError('GUEST_TOOL_FAILED', `cannot run ${b.command}`, { cause })),
    );
    first.on('close', done(a.command));
    second.on('close', done(b.command));
  });
}
