/**
 * The hang watchdog in a real nested Vitest run: a file whose worker blocks its event loop for
 * good (so Vitest's own test timeout never fires) is reported with the worker's processes and
 * ended with everything it started; the other file still passes and the run exits failed
 * instead of waiting. (The blocked test's own start is not in the report: the worker blocks
 * before it tells the main process.)
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';

const fixture = join(dirname(fileURLToPath(import.meta.url)), 'fixtures', 'hang');
const vitestBin = join(
  dirname(createRequire(import.meta.url).resolve('vitest/package.json')),
  'vitest.mjs',
);

/** Whether `pid` still runs (a killed child not yet reaped by init is a zombie: ended). */
function isRunning(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
}

function runFixture(pidFile: string): Promise<{ code: number | null; output: string }> {
  const proc = spawn(process.execPath, [vitestBin, 'run', '--root', fixture], {
    env: { ...process.env, HANG_CHILD_PID_FILE: pidFile, NO_COLOR: '1', CI: 'true' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  proc.stdout.on('data', (d: Buffer) => (output += d.toString()));
  proc.stderr.on('data', (d: Buffer) => (output += d.toString()));
  const killer = setTimeout(() => proc.kill('SIGKILL'), 50_000);
  return new Promise((resolve) =>
    proc.on('close', (code) => {
      clearTimeout(killer);
      resolve({ code, output });
    }),
  );
}

it('ends a worker whose event loop is blocked, with a report, and the run goes on', async () => {
  const pidFile = join(mkdtempSync(join(tmpdir(), 'hang-watchdog-')), 'child.pid');
  const { code, output } = await runFixture(pidFile);
  expect(output).toMatch(/hang watchdog: a test worker \(pid \d+\) ran over 3 s; ending it\./);
  expect(output).toContain('file still running: blocked.fixture.ts');
  expect(output).toMatch(/\d+ sleep 600/);
  const child = Number(readFileSync(pidFile, 'utf8'));
  for (let i = 0; i < 50 && isRunning(child); i++) await sleep(100);
  expect(isRunning(child)).toBe(false);
  expect(output).toContain('Worker exited unexpectedly');
  expect(output).toMatch(/Test Files\s+1 passed \(2\)/);
  expect(code).toBe(1);
}, 60_000);
