/**
 * A lender child process for the benchmark: `cardlend lend` or bench/bare-lender.ts, started
 * against the bench's VM. Counts the APDU events the CLI prints (`--json` on a pipe, as a
 * person's terminal or log collector would read them) and reads the CPU time all its threads
 * used (/proc/PID/task/ * /schedstat, ns; Linux).
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';

export class LenderProcess {
  /** `"event":"apdu"` lines seen on the child's stdout (when piped). */
  apduEvents = 0;
  readonly exited: Promise<void>;
  readonly #child: ChildProcess;

  /** Starts `node <nodeArgs>` in `cwd`; with `isCountingEvents`, its stdout is read. */
  constructor(nodeArgs: string[], cwd: string, isCountingEvents: boolean) {
    this.#child = spawn(process.execPath, nodeArgs, {
      cwd,
      stdio: ['ignore', isCountingEvents ? 'pipe' : 'ignore', 'inherit'],
    });
    this.exited = new Promise((resolve) => this.#child.once('exit', () => resolve()));
    let tail = '';
    this.#child.stdout?.setEncoding('utf8').on('data', (text: string) => {
      const lines = (tail + text).split('\n');
      tail = lines.pop() ?? '';
      for (const l of lines) if (l.includes('"event":"apdu"')) this.apduEvents++;
    });
  }

  /** CPU time of all the child's threads so far, µs (threads that ended are not counted). */
  cpuUs(): number {
    const dir = `/proc/${this.#child.pid}/task`;
    let ns = 0;
    for (const task of readdirSync(dir)) {
      try {
        ns += Number(readFileSync(`${dir}/${task}/schedstat`, 'utf8').split(' ')[0]);
      } catch {
        // the thread ended meanwhile
      }
    }
    return ns / 1000;
  }

  /** SIGTERM; SIGKILL (said on stderr) when the lender has not exited 10 s later. */
  async stop(): Promise<void> {
    this.#child.kill('SIGTERM');
    const killer = setTimeout(() => {
      process.stderr.write(
        `bench: lender ${this.#child.pid} still running 10 s after SIGTERM; killed\n`,
      );
      this.#child.kill('SIGKILL');
    }, 10_000);
    await this.exited;
    clearTimeout(killer);
  }
}
