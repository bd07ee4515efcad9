/**
 * bin/cardlend.mjs, the command the root script runs: it builds the esbuild bundle when it is
 * missing or older than any of its inputs, and otherwise runs it as is (no TypeScript at run
 * time). A fresh clone (no dist/) is the "missing" case of the same check.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync, statSync, utimesSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import pkg from '../package.json' with { type: 'json' };
import { CLI_BIN, CLI_ROOT, ensureBundle } from './helpers/cli-process.ts';

const BUNDLE = path.join(CLI_ROOT, 'dist/cardlend.mjs');
const INPUTS = path.join(CLI_ROOT, 'dist/cardlend.inputs.json');
const version = (): string =>
  execFileSync(process.execPath, [CLI_BIN, '--version'], { encoding: 'utf8' }).trim();

describe('bin/cardlend.mjs', () => {
  it('lists the workspace sources it bundles as inputs (the staleness check reads them)', () => {
    ensureBundle();
    const { inputs } = JSON.parse(readFileSync(INPUTS, 'utf8')) as { inputs: string[] };
    for (const f of [
      'apps/cli/src/cli.ts',
      'apps/cli/package.json',
      'packages/bridge/src/index.ts',
      'packages/pcsc/src/index.ts',
      'packages/problems/src/index.ts',
    ])
      expect(inputs).toContain(path.resolve(CLI_ROOT, '../..', f));
  });

  it('rebuilds when an input is newer than the bundle, and not otherwise', () => {
    ensureBundle();
    const input = path.join(CLI_ROOT, 'src/hex.ts');
    const before = statSync(BUNDLE).mtimeMs;
    expect(version()).toBe(`cardlend ${pkg.version}`);
    expect(statSync(BUNDLE).mtimeMs).toBe(before); // up to date: run as is
    // 1 ms newer than the bundle (not in the future: the rebuilt bundle is then newer again).
    const newer = (before + 1) / 1000;
    utimesSync(input, newer, newer);
    expect(version()).toBe(`cardlend ${pkg.version}`);
    expect(statSync(BUNDLE).mtimeMs).toBeGreaterThan(before);
  });
});
