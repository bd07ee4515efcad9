/**
 * The relay as the chain bench runs it: the relay CLI in its own Node process (tsx loader,
 * like `pnpm relay` runs its bundle), optionally with the hop probe (hop-probe.ts) preloaded
 * and Node flags added (e.g. `--trace-gc`).
 */
import { spawn } from 'node:child_process';
import { realpathSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const benchDir = path.dirname(fileURLToPath(import.meta.url));
const repoRoot = path.resolve(benchDir, '../../..');
const tsxLoader = pathToFileURL(
  realpathSync(path.join(repoRoot, 'apps/relay/node_modules/tsx/dist/loader.mjs')),
).href;

/** How to start the relay. */
export interface RelayRun {
  port: number;
  targetPort: number;
  /** Write the hop probe's log to this file when the relay exits. */
  probeFile?: string | undefined;
  /** The built page to serve (the relay's `--static`), default apps/web/dist. */
  staticDir?: string | undefined;
  /** Extra Node flags. */
  nodeFlags?: readonly string[];
  /** Every line the relay prints (its JSON log on stdout, the banner and Node's on stderr). */
  onOutput?: (text: string) => void;
}

/** Starts the relay CLI and resolves with a stopper once it is ready. */
export async function startRelay(run: RelayRun): Promise<() => Promise<void>> {
  const probe =
    run.probeFile === undefined ? [] : ['--import', path.join(benchDir, 'hop-probe.ts')];
  const child = spawn(
    process.execPath,
    [
      ...(run.nodeFlags ?? []),
      '--import',
      tsxLoader,
      ...probe,
      'apps/relay/src/main.ts',
      '--listen',
      `127.0.0.1:${run.port}`,
      '--target',
      `127.0.0.1:${run.targetPort}`,
      ...(run.staticDir === undefined ? [] : ['--static', run.staticDir]),
    ],
    {
      cwd: repoRoot,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: {
        ...process.env,
        ...(run.probeFile === undefined
          ? {}
          : {
              CARDLEND_PROBE_OUT: run.probeFile,
              CARDLEND_PROBE_TARGET_PORT: String(run.targetPort),
              CARDLEND_PROBE_LISTEN_PORT: String(run.port),
            }),
      },
    },
  );
  let output = '';
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const isReady = await new Promise<boolean>((resolve) => {
    const onData = (c: Buffer): void => {
      const text = c.toString('utf8');
      run.onOutput?.(text);
      if (output.length < 100_000) output += text;
      if (output.includes('Open in Chrome:')) resolve(true);
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    void exited.then(() => resolve(false));
    setTimeout(() => resolve(false), 60_000).unref();
  });
  const stop = async (): Promise<void> => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGTERM');
    const t = setTimeout(() => child.kill('SIGKILL'), 12_000);
    await exited;
    clearTimeout(t);
  };
  if (!isReady) {
    await stop();
    throw new Error(`relay did not start:\n${output}`);
  }
  return stop;
}
