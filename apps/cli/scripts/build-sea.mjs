#!/usr/bin/env node
// Builds the single-file executable of `cardlend` for THIS platform with Node's Single
// Executable Applications (node --experimental-sea-config + postject):
//   1. dist/sea/cardlend.cjs: one CommonJS bundle, pcsc-mini's JavaScript inlined, its addon
//      replaced by scripts/sea-addon.cjs (loads the asset from a private temp file);
//   2. the blob: that bundle + the asset `pcsc-mini.node` (this platform's prebuilt addon);
//   3. a copy of this node binary with the blob injected (macOS: signature removed first,
//      ad-hoc signed after).
// Output: dist/sea/cardlend (cardlend.exe on Windows). Prints its path.
import { execFileSync } from 'node:child_process';
import {
  copyFileSync,
  chmodSync,
  readFileSync,
  realpathSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { buildBundle, SEA_BUNDLE } from './build.mjs';

const require = createRequire(import.meta.url);

/** The fuse Node's SEA support looks for (Node docs, "Single executable applications"). */
const SEA_FUSE = 'NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2';

/** pcsc-mini's prebuilt addon package for this platform (the same table as its loader). */
function addonPackage() {
  const key = `${process.platform}-${process.arch}`;
  const table = {
    'linux-x64': '@pcsc-mini/linux-x86_64-gnu',
    'linux-arm64': '@pcsc-mini/linux-aarch64-gnu',
    'darwin-x64': '@pcsc-mini/macos-x86_64',
    'darwin-arm64': '@pcsc-mini/macos-aarch64',
    'win32-x64': '@pcsc-mini/windows-x86_64-node',
    'win32-arm64': '@pcsc-mini/windows-aarch64-node',
  };
  const pkg = table[key];
  if (pkg === undefined) throw new Error(`no single-executable build for ${key}`);
  return pkg;
}

/** Path of the addon file, resolved from pcsc-mini's own location (its optional dependency). */
function addonPath() {
  const pcscMini = realpathSync(require.resolve('pcsc-mini/package.json'));
  return createRequire(pcscMini).resolve(`${addonPackage()}/addon.node`);
}

/** Builds the executable; resolves with its path. */
export async function buildSea() {
  await buildBundle({ sea: true });
  const dir = path.dirname(SEA_BUNDLE);
  const blob = path.join(dir, 'sea-prep.blob');
  const config = path.join(dir, 'sea-config.json');
  writeFileSync(
    config,
    JSON.stringify({
      main: SEA_BUNDLE,
      output: blob,
      disableExperimentalSEAWarning: true,
      useCodeCache: true,
      assets: { 'pcsc-mini.node': addonPath() },
    }),
  );
  execFileSync(process.execPath, ['--experimental-sea-config', config], { stdio: 'pipe' });
  const exe = path.join(dir, process.platform === 'win32' ? 'cardlend.exe' : 'cardlend');
  rmSync(exe, { force: true });
  copyFileSync(process.execPath, exe);
  chmodSync(exe, 0o755);
  if (process.platform === 'darwin') execFileSync('codesign', ['--remove-signature', exe]);
  const { inject } = require('postject');
  await inject(exe, 'NODE_SEA_BLOB', readFileSync(blob), {
    sentinelFuse: SEA_FUSE,
    ...(process.platform === 'darwin' ? { machoSegmentName: 'NODE_SEA' } : {}),
  });
  if (process.platform === 'darwin') execFileSync('codesign', ['--sign', '-', exe]);
  return exe;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const exe = await buildSea();
  process.stdout.write(`${path.relative(process.cwd(), exe)}\n`);
}
