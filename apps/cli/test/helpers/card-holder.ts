/**
 * Another program holding a card exclusively (card-holder.mjs in a process of its own, on the
 * test pcscd through the inherited PCSCLITE_CSOCK_NAME). A holder in the test's own process
 * would end in pcsc-mini's stop(), which can block for good while another process connects.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const SCRIPT = fileURLToPath(new URL('./card-holder.mjs', import.meta.url));

/** A card held by another process. */
export interface CardHolder {
  /** Lets go of the card (disconnect, leave) and waits for the process to end; kills it if not. */
  release(): Promise<void>;
  /** Ends the process at once (SIGKILL; pcscd frees the card); nothing if it has ended. */
  kill(): void;
}

/** Holds `reader`'s card exclusively from another process; rejects if not held in `timeoutMs`. */
export async function holdCard(reader: string, timeoutMs = 10_000): Promise<CardHolder> {
  const child = spawn(process.execPath, [SCRIPT, reader], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  child.stdin.on('error', () => {}); // a holder already gone: `release` reports its exit
  let out = '';
  // A failed spawn emits 'error' (and maybe no 'close'): an end too, never an uncaught error.
  const ended = new Promise<number | null>((resolve) => {
    child.on('close', resolve);
    child.on('error', () => resolve(null));
  });
  const kill = (): void => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  };
  const held = new Promise<void>((resolve, reject) => {
    child.stdout.on('data', (chunk: Buffer) => {
      out += String(chunk);
      if (out.split('\n').includes('held')) resolve();
    });
    void ended.then((code) => reject(new Error(`the card holder ended (${code}): ${out}`)));
  });
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`the card holder did not hold ${reader}: ${out}`)),
      timeoutMs,
    );
  });
  try {
    await Promise.race([held, timeout]);
  } catch (e) {
    kill();
    throw e;
  } finally {
    clearTimeout(timer);
  }
  return {
    kill,
    async release() {
      if (!child.stdin.writableEnded) child.stdin.end('release\n');
      let endTimer: NodeJS.Timeout | undefined;
      const code = await Promise.race([
        ended,
        new Promise<'timeout'>(
          (resolve) => (endTimer = setTimeout(() => resolve('timeout'), 5_000)),
        ),
      ]);
      clearTimeout(endTimer);
      if (code !== 0) {
        kill();
        throw new Error(`the card holder did not let go (${code}): ${out}`);
      }
    },
  };
}
