/**
 * Waiting for a relay child process to serve the page: the one start-up check the e2e
 * fixtures, the UX specs' restartable relay and the guest chain's relay process share.
 */
import type { ChildProcessWithoutNullStreams } from 'node:child_process';

/**
 * Appends every non-empty line the relay prints (stdout and stderr) to `output`, for as long
 * as it runs. Resolves true once a line says "Open in Chrome:" (it serves the page), false
 * when it exits first or stays silent for `timeoutMs`.
 */
export function relayReady(
  child: ChildProcessWithoutNullStreams,
  output: string[],
  timeoutMs: number,
): Promise<boolean> {
  return new Promise<boolean>((resolve) => {
    const onData = (chunk: Buffer): void => {
      output.push(
        ...chunk
          .toString('utf8')
          .split(/\r?\n/)
          .filter((l) => l !== ''),
      );
      if (output.some((l) => l.includes('Open in Chrome:'))) resolve(true);
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.once('exit', () => resolve(false));
    setTimeout(() => resolve(false), timeoutMs).unref();
  });
}
