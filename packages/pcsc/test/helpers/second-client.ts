/** Runs second-client.mjs (another process, another PC/SC connection) and returns its result. */
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const SCRIPT = fileURLToPath(new URL('./second-client.mjs', import.meta.url));

/** What the second client got. */
export type SecondClientResult = { ok: true; response: string } | { ok: false; code: string };

/** Sends `apduHex` to `reader` from a second process (shared mode). */
export function secondClientTransmit(reader: string, apduHex: string): Promise<SecondClientResult> {
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      [SCRIPT, reader, apduHex],
      { timeout: 20_000 },
      (err, stdout, stderr) => {
        const line = stdout.trim().split('\n').pop() ?? '';
        try {
          resolve(JSON.parse(line) as SecondClientResult);
        } catch {
          reject(new Error(`second client failed: ${err?.message ?? ''} ${stderr}`));
        }
      },
    );
  });
}
