/**
 * One pcscd process in fresh network and mount namespaces (see pcscd.ts): started in the
 * foreground at the chosen log level (info by default), ready when it logs "daemon ready",
 * stopped with SIGTERM.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { copyFileSync, mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';

// $1 = the private directory; its `reader.conf.d` replaces /etc/reader.conf.d (only vpcd's
// readers, and they can be taken away: see setReadersPlugged). `unshare` and `sh` exec, so
// the child's pid is pcscd's.
const SCRIPT =
  'ip link set lo up && mkdir -p /run/pcscd && mount --bind "$1" /run/pcscd && ' +
  'mount --bind "$1/reader.conf.d" /etc/reader.conf.d && ' +
  'exec /usr/sbin/pcscd --foreground $2 $3';

/** vpcd's reader configuration, as Debian's vsmartcard-vpcd installs it. */
const VPCD_CONF = '/etc/reader.conf.d/vpcd';

const MAX_LOG_LINES = 400;

/** pcscd's log levels, most verbose first (its `--debug`, `--info`, `--error`, `--critical`). */
export const PCSCD_LOG_LEVELS = ['debug', 'info', 'error', 'critical'] as const;
export type PcscdLogLevel = (typeof PCSCD_LOG_LEVELS)[number];

/** Options of one pcscd child. */
interface DaemonOptions {
  readyTimeoutMs?: number;
  logApdus?: boolean;
  logLevel?: PcscdLogLevel;
}

/** A pcscd child process. */
export class Daemon {
  readonly #dir: string;
  readonly #readyTimeoutMs: number;
  readonly #logApdus: boolean;
  readonly #logLevel: PcscdLogLevel;
  readonly #lines: string[] = [];
  #child: ChildProcess | null = null;
  #exited: Promise<void> = Promise.resolve();
  #isFirstStart = true;

  constructor(dir: string, opts: DaemonOptions) {
    this.#dir = dir;
    this.#readyTimeoutMs = opts.readyTimeoutMs ?? 15_000;
    this.#logApdus = opts.logApdus ?? false;
    this.#logLevel = opts.logLevel ?? 'info';
  }

  /** The level pcscd logs at. */
  get logLevel(): PcscdLogLevel {
    return this.#logLevel;
  }

  /** The running pcscd's pid (throws when not running). */
  get pid(): number {
    const pid = this.#child?.pid;
    if (pid === undefined) throw new Error('the test pcscd is not running');
    return pid;
  }

  /**
   * Whether the next start has vpcd's readers: writes or removes vpcd's entry in the private
   * reader.conf.d. (pcscd 1.9.9 does not re-read it while running: SIGUSR1 rescans USB only.)
   */
  setReadersPlugged(isPlugged: boolean): void {
    const conf = join(this.#dir, 'reader.conf.d', 'vpcd');
    if (isPlugged) copyFileSync(VPCD_CONF, conf);
    else rmSync(conf, { force: true });
  }

  /** Starts pcscd; resolves when it is ready, rejects (with its log) when it exits or hangs. */
  async start(): Promise<void> {
    if (this.#child !== null) throw new Error('the test pcscd is already running');
    this.#removeLeftovers();
    const confDir = join(this.#dir, 'reader.conf.d');
    mkdirSync(confDir, { recursive: true });
    if (this.#isFirstStart) copyFileSync(VPCD_CONF, join(confDir, 'vpcd'));
    this.#isFirstStart = false;
    const args = [
      '-n',
      '-m',
      '--propagation',
      'private',
      'sh',
      '-c',
      SCRIPT,
      'sh',
      this.#dir,
      `--${this.#logLevel}`,
      this.#logApdus ? '--apdu' : '',
    ];
    const child = spawn('unshare', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    this.#child = child;
    this.#exited = new Promise((resolve) => child.once('exit', () => resolve()));
    void this.#exited.then(() => {
      if (this.#child === child) this.#child = null;
    });
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => fail(`not ready after ${this.#readyTimeoutMs} ms`),
        this.#readyTimeoutMs,
      );
      const fail = (why: string): void => {
        clearTimeout(timer);
        child.kill('SIGTERM');
        reject(new Error(`the test pcscd did not start: ${why}\n${this.log()}`));
      };
      const onLine = (line: string): void => {
        this.#push(line);
        if (line.includes('daemon ready')) {
          clearTimeout(timer);
          resolve();
        }
      };
      readLines(child, onLine);
      child.once('error', (e) => fail(e.message));
      child.once('exit', (code, signal) => fail(`exited (${code ?? signal})`));
    });
  }

  /** SIGTERM; SIGKILL after 10 s; then the private directory is cleaned. */
  async stop(): Promise<void> {
    const child = this.#child;
    if (child === null) return;
    child.kill('SIGTERM');
    const killer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    await this.#exited;
    clearTimeout(killer);
    this.#child = null;
    this.#removeLeftovers();
  }

  log(): string {
    return this.#lines.join('\n');
  }

  #push(line: string): void {
    this.#lines.push(line);
    if (this.#lines.length > MAX_LOG_LINES)
      this.#lines.splice(0, this.#lines.length - MAX_LOG_LINES);
  }

  /** A pcscd that died hard leaves its socket and pid file; the next one refuses to start. */
  #removeLeftovers(): void {
    for (const f of ['pcscd.comm', 'pcscd.pid']) rmSync(join(this.#dir, f), { force: true });
  }
}

function readLines(child: ChildProcess, onLine: (line: string) => void): void {
  for (const stream of [child.stdout, child.stderr]) {
    let rest = '';
    stream?.on('data', (d: Buffer) => {
      const parts = (rest + d.toString()).split('\n');
      rest = parts.pop() ?? '';
      for (const line of parts) onLine(line);
    });
  }
}
