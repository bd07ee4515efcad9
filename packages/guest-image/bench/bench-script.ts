/**
 * What the benches that run in their own network namespace share: their command-line options,
 * line output, and re-running the script under `unshare -n` (root) with loopback brought up.
 */
import { execFileSync, spawnSync } from 'node:child_process';

export const argv = process.argv.slice(2);

/** The value after `name` on the command line, if given. */
export const option = (name: string): string | undefined => {
  const at = argv.indexOf(name);
  return at >= 0 ? argv[at + 1] : undefined;
};

export const out = (line: string): boolean => process.stdout.write(`${line}\n`);

/**
 * Outside the namespace (no `envName=1`): re-runs this very script in a fresh network namespace
 * and exits with its status. Inside: brings the namespace's loopback up and returns.
 */
export function runInOwnNetns(envName: string): void {
  if (process.env[envName] !== '1') {
    const r = spawnSync(
      'unshare',
      ['-n', '--', process.execPath, ...process.execArgv, ...process.argv.slice(1)],
      { stdio: 'inherit', env: { ...process.env, [envName]: '1' } },
    );
    process.exit(r.status ?? 1);
  }
  execFileSync('ip', ['link', 'set', 'lo', 'up']);
}
