/** Runs exclusive-loop.mjs: another process taking a card exclusively again and again. */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const SCRIPT = fileURLToPath(new URL('./exclusive-loop.mjs', import.meta.url));

/** What the other process saw: its SCardConnect EXCLUSIVE attempts and failures by code. */
export interface ExclusiveLoopResult {
  readonly attempts: number;
  readonly failures: Readonly<Record<string, number>>;
}

/** A running loop: `started` once it takes the card, `result` when it is done. */
export interface ExclusiveLoop {
  readonly started: Promise<void>;
  readonly result: Promise<ExclusiveLoopResult>;
}

/**
 * Starts the loop on `reader` for `durationMs` (from its first connect); with `hold`, one
 * exclusive connect held that long instead (`started` once it holds the card).
 */
export function startExclusiveLoop(
  reader: string,
  durationMs: number,
  mode: 'loop' | 'hold' = 'loop',
): ExclusiveLoop {
  const child = spawn(process.execPath, [SCRIPT, reader, String(durationMs), mode], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let out = '';
  let onStarted = (): void => {};
  const started = new Promise<void>((resolve) => (onStarted = resolve));
  child.stdout.on('data', (chunk: Buffer) => {
    out += String(chunk);
    if (out.includes('started\n')) onStarted();
  });
  const result = new Promise<ExclusiveLoopResult>((resolve, reject) => {
    child.on('close', () => {
      onStarted(); // a loop that never started ends here too: `result` says why
      const line = out.trim().split('\n').pop() ?? '';
      try {
        resolve(JSON.parse(line) as ExclusiveLoopResult);
      } catch {
        reject(new Error(`the exclusive loop gave no result: ${out}`));
      }
    });
  });
  return { started, result };
}
