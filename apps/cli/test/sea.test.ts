/**
 * The single-file executable (Node SEA, linux-x64 here): built from scratch by
 * scripts/build-sea.mjs, then run WITHOUT node_modules next to it (copied to a temporary
 * directory): `--version`, and `readers` against the test pcscd with the PIV demo card, which
 * needs pcsc-mini's native addon from the executable's own asset.
 */
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createPivDemoCard } from '@cardlend/card-sim';
import { startPcscd, waitForCard } from '@cardlend/pcsc/testing';
import type { Pcscd } from '@cardlend/pcsc/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pkg from '../package.json' with { type: 'json' };
import { CLI_ROOT, runCliToEnd } from './helpers/cli-process.ts';

let exe: string;
let dir: string;
let pcscd: Pcscd;

beforeAll(async () => {
  const built = execFileSync(process.execPath, ['scripts/build-sea.mjs'], {
    cwd: CLI_ROOT,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
  }).trim();
  dir = mkdtempSync(path.join(os.tmpdir(), 'cardlend-sea-'));
  exe = path.join(dir, 'cardlend');
  copyFileSync(path.join(CLI_ROOT, built), exe);
  execFileSync('chmod', ['755', exe]);
  pcscd = await startPcscd();
  const piv = await createPivDemoCard();
  await pcscd.insertCard(piv);
  await waitForCard(pcscd.readers[0], 'present');
}, 240_000);

afterAll(async () => {
  await pcscd?.stop();
  if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
});

describe('single executable', () => {
  it('--version, from a directory with nothing else in it', async () => {
    expect(readdirSync(dir)).toEqual(['cardlend']);
    const r = await runCliToEnd(['--version'], { exe });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe(`cardlend ${pkg.version}`);
    expect(r.stderr).toBe('');
  });

  it('readers against the test pcscd: the addon loads from the executable and leaves no file behind', async () => {
    const before = readdirSync(os.tmpdir()).filter((n) => n.startsWith('cardlend-addon-'));
    const r = await runCliToEnd(['readers', '--json'], { exe });
    expect(r.code, r.stderr).toBe(0);
    const { readers } = JSON.parse(r.stdout) as { readers: { name: string; state: string }[] };
    expect(readers.map((x) => [x.name, x.state])).toEqual([
      ['Virtual PCD 00 00', 'present'],
      ['Virtual PCD 00 01', 'empty'],
    ]);
    const after = readdirSync(os.tmpdir()).filter((n) => n.startsWith('cardlend-addon-'));
    expect(after.filter((n) => !before.includes(n))).toEqual([]);
  });
});
