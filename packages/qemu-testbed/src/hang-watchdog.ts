/**
 * A Vitest reporter that ends a test file whose worker process has run longer than any file
 * should. Vitest's test and hook timeouts are timers inside the worker: a worker whose event
 * loop is blocked (a synchronous call that never returns, native code waiting on a daemon)
 * never fires them, and the whole run waits for it until CI's own limit, printing nothing
 * about where it stopped. This reporter lives in Vitest's main process and, once a worker is
 * older than the limit, prints the files that worker's run had started and not finished, the
 * tests in them that had started and not ended, and the worker's processes; then it kills the
 * worker and everything it started (QEMU, pcscd, …), so Vitest reports the file failed and
 * the run goes on. Linux only (it reads /proc); elsewhere it does nothing.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import type { Reporter, TestCase, TestModule } from 'vitest/node';

/** One process from /proc: its parent and its command line. */
interface ProcessEntry {
  readonly pid: number;
  readonly ppid: number;
  readonly command: string;
}

interface RunningFile {
  readonly startedAt: number;
  /** Tests that started and have no result yet, by full name. */
  readonly running: Set<string>;
  lastEnded?: string;
}

export interface HangWatchdogOptions {
  /** How long one worker may live (default 10 min: the slowest file takes about 1 min). */
  readonly limitMs?: number;
  /** How often the workers are looked at (default 15 s). */
  readonly checkEveryMs?: number;
}

export class HangWatchdog implements Reporter {
  readonly #limitMs: number;
  readonly #checkEveryMs: number;
  readonly #files = new Map<string, RunningFile>();
  /** When each worker pid was first seen: its age, to within one check. */
  readonly #firstSeen = new Map<number, number>();
  #timer: NodeJS.Timeout | undefined;

  constructor(options: HangWatchdogOptions = {}) {
    this.#limitMs = options.limitMs ?? 10 * 60_000;
    this.#checkEveryMs = options.checkEveryMs ?? 15_000;
  }

  /** Each run (watch mode starts several) is watched until it ends. */
  onTestRunStart(): void {
    clearInterval(this.#timer);
    if (!existsSync('/proc/self/stat')) return;
    this.#timer = setInterval(() => this.#check(), this.#checkEveryMs);
    this.#timer.unref();
  }

  onTestModuleQueued(module: TestModule): void {
    this.#files.set(module.relativeModuleId, { startedAt: Date.now(), running: new Set() });
  }

  onTestModuleEnd(module: TestModule): void {
    this.#files.delete(module.relativeModuleId);
  }

  onTestCaseReady(test: TestCase): void {
    this.#files.get(test.module.relativeModuleId)?.running.add(test.fullName);
  }

  onTestCaseResult(test: TestCase): void {
    const file = this.#files.get(test.module.relativeModuleId);
    file?.running.delete(test.fullName);
    if (file) file.lastEnded = test.fullName;
  }

  onTestRunEnd(): void {
    clearInterval(this.#timer);
  }

  #check(): void {
    const now = Date.now();
    const table = readProcessTable();
    const workers = [...table.values()].filter(
      (p) => p.ppid === process.pid && p.command.includes('workers/forks'),
    );
    for (const pid of this.#firstSeen.keys())
      if (!workers.some((w) => w.pid === pid)) this.#firstSeen.delete(pid);
    for (const worker of workers) {
      const seenAt = this.#firstSeen.get(worker.pid) ?? now;
      this.#firstSeen.set(worker.pid, seenAt);
      if (now - seenAt >= this.#limitMs) this.#end(worker, seenAt, table);
    }
  }

  /** Reports the overdue worker and kills it with everything below it. */
  #end(worker: ProcessEntry, seenAt: number, table: Map<number, ProcessEntry>): void {
    const tree = [worker, ...descendants(table, worker.pid)];
    // The worker took its file when it started: files queued by then and not ended.
    const files = [...this.#files].filter(([, f]) => f.startedAt <= seenAt + this.#checkEveryMs);
    const lines = [
      `\nhang watchdog: a test worker (pid ${worker.pid}) ran over ${this.#limitMs / 1000} s; ending it.`,
      ...files.flatMap(([id, f]) => [
        `  file still running: ${id} (for ${Math.round((Date.now() - f.startedAt) / 1000)} s)`,
        ...[...f.running].map((name) => `    started, no result: ${name}`),
        ...(f.lastEnded ? [`    last test with a result: ${f.lastEnded}`] : []),
      ]),
      '  its processes:',
      ...tree.map((p) => `    ${p.pid} ${p.command.slice(0, 200)}`),
      '',
    ];
    process.stderr.write(lines.join('\n'));
    for (const p of tree.reverse()) {
      try {
        process.kill(p.pid, 'SIGKILL');
      } catch {
        // Already gone.
      }
    }
    this.#firstSeen.delete(worker.pid);
  }
}

/** Every process this one may see, from /proc/<pid>/stat and cmdline. */
function readProcessTable(): Map<number, ProcessEntry> {
  const table = new Map<number, ProcessEntry>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      // pid (comm) state ppid …: comm may hold spaces and parentheses, so read after the last ')'.
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      const cmdline = readFileSync(`/proc/${name}/cmdline`, 'utf8').split('\0').join(' ').trim();
      table.set(Number(name), { pid: Number(name), ppid, command: cmdline || stat });
    } catch {
      // The process ended while the table was read.
    }
  }
  return table;
}

/** The processes below `pid`, parents before children. */
function descendants(table: Map<number, ProcessEntry>, pid: number): ProcessEntry[] {
  const found: ProcessEntry[] = [];
  const queue = [pid];
  for (let parent = queue.shift(); parent !== undefined; parent = queue.shift()) {
    for (const p of table.values()) {
      if (p.ppid !== parent) continue;
      found.push(p);
      queue.push(p.pid);
    }
  }
  return found;
}
