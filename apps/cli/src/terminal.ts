/**
 * The real terminal, output and signals for `cardlend` (node:readline for prompts). Thin I/O
 * adapters; the logic that decides what to print or ask lives elsewhere.
 */
import { createInterface } from 'node:readline/promises';
import type { Output, Prompter, StopSignals } from './ports.ts';

/** Longest time stdout text waits before it is written, ms. */
const STDOUT_FLUSH_MS = 20;
/** Pending stdout text that is written at once, whatever the timer, characters. */
const STDOUT_FLUSH_CHARS = 16_384;

/**
 * stdout/stderr writers. stdout is gathered and written at most every 20 ms (or per 16 kB):
 * a burst of guest commands costs one write of APDU log lines instead of one per command, and
 * no extra wake-up between two commands. stderr writes first flush what stdout holds, so the
 * order of everything printed stays as it happened; `flush()` before exiting.
 */
export function processOutput(): Output & { flush(): void } {
  let pending: string[] = [];
  let size = 0;
  let timer: NodeJS.Timeout | null = null;
  const flush = (): void => {
    if (timer !== null) clearTimeout(timer);
    timer = null;
    if (pending.length === 0) return;
    const text = pending.join('');
    pending = [];
    size = 0;
    process.stdout.write(text);
  };
  return {
    out: (text) => {
      pending.push(text);
      size += text.length;
      if (size >= STDOUT_FLUSH_CHARS) flush();
      else if (timer === null) timer = setTimeout(flush, STDOUT_FLUSH_MS);
    },
    err: (text) => {
      flush();
      process.stderr.write(text);
    },
    flush,
  };
}

/**
 * A prompter on stdin/stderr, or `null` when either is not a terminal (piped, CI, a service):
 * then nobody can answer, and the commands refuse instead of waiting.
 */
export function terminalPrompter(): Prompter | null {
  if (process.stdin.isTTY !== true || process.stderr.isTTY !== true) return null;
  return {
    async ask(text, signal) {
      const rl = createInterface({ input: process.stdin, output: process.stderr, terminal: true });
      let isInterrupted = false;
      rl.on('SIGINT', () => {
        isInterrupted = true;
        rl.close();
      });
      const closed = new Promise<null>((resolve) => rl.once('close', () => resolve(null)));
      try {
        const answer = await Promise.race([
          signal === undefined ? rl.question(text) : rl.question(text, { signal }),
          closed,
        ]);
        return isInterrupted ? null : answer;
      } catch {
        return null; // aborted
      } finally {
        rl.close();
        if (isInterrupted) process.stderr.write('\n');
      }
    },
  };
}

/** SIGINT and SIGTERM. While subscribed, they no longer end the process by themselves. */
export function processSignals(): StopSignals {
  return {
    onStop(handler) {
      const onSignal = (signal: NodeJS.Signals): void => handler(signal);
      process.on('SIGINT', onSignal);
      process.on('SIGTERM', onSignal);
      return () => {
        process.off('SIGINT', onSignal);
        process.off('SIGTERM', onSignal);
      };
    },
  };
}
