/** QEMU's stdout and stderr as lines, kept in arrival order, with waits for a matching line. */
import type { Readable } from 'node:stream';
import { TestbedError } from './errors.ts';

interface LineWaiter {
  re: RegExp;
  resolve: (line: string) => void;
}

/** The lines a QEMU process printed. */
export class QemuLog {
  readonly stdout: string[] = [];
  readonly stderr: string[] = [];
  /** stdout and stderr lines interleaved in arrival order. */
  readonly output: string[] = [];
  readonly #waiters = new Set<LineWaiter>();

  /** Starts collecting the child's two output streams. */
  follow(stdout: Readable, stderr: Readable): void {
    stdout.on('data', this.#collector(this.stdout));
    stderr.on('data', this.#collector(this.stderr));
  }

  /** The last `chars` characters of stderr then stdout, for start failures. */
  tail(chars: number): string {
    return [...this.stderr, ...this.stdout].join('\n').slice(-chars);
  }

  /**
   * Resolves with the first line of `output` at index ≥ `fromIndex`, past or future, that matches
   * `re`; rejects with TESTBED_TIMEOUT after `timeoutMs`.
   */
  waitFor(re: RegExp, timeoutMs: number, fromIndex: number): Promise<string> {
    const seen = this.output.slice(fromIndex).find((l) => re.test(l));
    if (seen !== undefined) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const w: LineWaiter = {
        re,
        resolve: (line: string) => {
          clearTimeout(timer);
          resolve(line);
        },
      };
      const timer = setTimeout(() => {
        this.#waiters.delete(w);
        reject(
          new TestbedError(
            'TESTBED_TIMEOUT',
            `no QEMU log line matched ${String(re)} in ${timeoutMs} ms`,
          ),
        );
      }, timeoutMs);
      this.#waiters.add(w);
    });
  }

  #collector(into: string[]): (chunk: Buffer) => void {
    let partial = '';
    return (chunk: Buffer) => {
      partial += chunk.toString('utf8');
      const lines = partial.split(/\r?\n/);
      partial = lines.pop() ?? '';
      for (const line of lines) {
        into.push(line);
        this.output.push(line);
        for (const w of this.#waiters) {
          if (w.re.test(line)) {
            this.#waiters.delete(w);
            w.resolve(line);
          }
        }
      }
    };
  }
}
