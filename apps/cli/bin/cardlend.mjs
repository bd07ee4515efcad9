#!/usr/bin/env node
// The `cardlend` command: runs the esbuild bundle (dist/cardlend.mjs), building it first when
// it is missing or older than any of its inputs (a fresh clone after `pnpm install`, or after
// a source change). No TypeScript runs at run time; the check costs one stat per input.
import { readFileSync, statSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { BUNDLE, buildBundle } from '../scripts/build.mjs';

function mtimeMs(file) {
  try {
    return statSync(file).mtimeMs;
  } catch {
    return null;
  }
}

function isStale() {
  const built = mtimeMs(BUNDLE.file);
  if (built === null) return true;
  let inputs;
  try {
    inputs = JSON.parse(readFileSync(BUNDLE.inputs, 'utf8')).inputs;
  } catch {
    return true;
  }
  return !Array.isArray(inputs) || inputs.some((f) => (mtimeMs(f) ?? Infinity) > built);
}

if (isStale()) {
  try {
    await buildBundle();
  } catch (e) {
    process.stderr.write(
      `cardlend: could not build the command: ${e instanceof Error ? e.message : String(e)}\n`,
    );
    process.exit(1);
  }
}
await import(pathToFileURL(BUNDLE.file).href);
