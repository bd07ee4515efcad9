/**
 * Debian's vicc (python3-virtualsmartcard), an independent virtual card, run in the test
 * pcscd's network namespace. Debian's vicc imports `Crypto`, which Debian ships as
 * `Cryptodome` (python3-pycryptodome): a directory with a `Crypto` symlink on PYTHONPATH
 * bridges that. `-t iso7816` is the type that works under Python 3 (no PIV applet; ATR
 * 3B 95 13 81 01 80 73 FF 01 00 0B, T=1 only). Stopped with SIGTERM = card pulled.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';

/** Options of a vicc card. */
export interface ViccOptions {
  /** vpcd slot 0 (port 35963, default) or 1 (35964). */
  slot?: 0 | 1;
  /** vicc card type; default `iso7816`. */
  type?: string;
}

/** A running vicc. */
export interface Vicc {
  readonly pid: number;
  readonly slot: number;
  /** Resolves when vicc exited (stopped, crashed, or pcscd went away). */
  readonly exited: Promise<void>;
  /** vicc's output so far. */
  output(): string;
  /** SIGTERM (the card leaves the reader); resolves when it exited. */
  stop(): Promise<void>;
}

const VICC = '/usr/bin/vicc';
const CRYPTODOME = '/usr/lib/python3/dist-packages/Cryptodome';
const VICC_LIB = '/usr/lib/python3/site-packages/virtualsmartcard';

/** Starts vicc in the network namespace of `pcscdPid`; `dir` holds the Crypto shim. */
export async function startVicc(
  pcscdPid: number,
  dir: string,
  opts: ViccOptions = {},
): Promise<Vicc> {
  if (!existsSync(VICC) || !existsSync(CRYPTODOME)) {
    throw new Error(
      'vicc needs the Debian packages python3-virtualsmartcard python3-pycryptodome ' +
        '(scripts/ensure-test-deps.mjs installs them)',
    );
  }
  const shim = join(dir, 'pyshim');
  mkdirSync(shim, { recursive: true });
  if (!existsSync(join(shim, 'Crypto'))) symlinkSync(CRYPTODOME, join(shim, 'Crypto'));
  const slot = opts.slot ?? 0;
  const port = String(35963 + slot);
  const child = spawn(
    'nsenter',
    [
      '-t',
      String(pcscdPid),
      '-n',
      '/usr/bin/python3',
      VICC,
      '-t',
      opts.type ?? 'iso7816',
      '-H',
      '127.0.0.1',
      '-P',
      port,
    ],
    {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, PYTHONPATH: `${shim}:${VICC_LIB}`, PYTHONUNBUFFERED: '1' },
    },
  );
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  await new Promise<void>((resolve, reject) => {
    child.once('spawn', () => resolve());
    child.once('error', (e) => reject(new Error(`vicc could not start: ${e.message}`)));
  });
  const pid = child.pid ?? -1;
  return {
    pid,
    slot,
    exited,
    output: () => out,
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      await exited;
    },
  };
}
