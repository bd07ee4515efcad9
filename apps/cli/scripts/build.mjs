#!/usr/bin/env node
// Bundles the `cardlend` command with esbuild into dist/cardlend.mjs (one ESM file; the
// workspace packages and `ws` inlined, `pcsc-mini` left to node_modules for its native addon).
// bin/cardlend.mjs calls it on first run and whenever a bundled source is newer than the
// bundle. `--sea` writes dist/sea/cardlend.cjs instead: one CommonJS file with pcsc-mini's
// JavaScript inlined and its addon loaded from the single executable's asset (build-sea.mjs).
import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const cliRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/** Paths of the normal bundle and the list of its inputs (for the staleness check). */
export const BUNDLE = {
  file: path.join(cliRoot, 'dist/cardlend.mjs'),
  inputs: path.join(cliRoot, 'dist/cardlend.inputs.json'),
};

/** Path of the CommonJS bundle the single executable runs. */
export const SEA_BUNDLE = path.join(cliRoot, 'dist/sea/cardlend.cjs');

/** ws' optional native speed-ups: not used (ws falls back to JavaScript). */
const WS_OPTIONAL = ['bufferutil', 'utf-8-validate'];

/**
 * Replaces pcsc-mini's addon loader (`require("./addon.node")`, which picks a platform
 * package) with sea-addon.cjs, which loads the addon from the executable's asset.
 */
const seaAddonPlugin = {
  name: 'cardlend-sea-addon',
  setup(b) {
    b.onResolve({ filter: /^\.\/addon\.node$/ }, (args) =>
      args.importer.includes(`${path.sep}pcsc-mini${path.sep}`)
        ? { path: path.join(cliRoot, 'scripts/sea-addon.cjs') }
        : undefined,
    );
  },
};

/**
 * @cardlend/pcsc loads pcsc-mini lazily with `createRequire(import.meta.url)('pcsc-mini')`,
 * which a bundler cannot follow. The ESM bundle keeps it (it resolves from dist/ to this
 * package's node_modules); the single executable has no node_modules, so there the call
 * becomes a plain `require('pcsc-mini')` that esbuild inlines. Fails the build loudly if the
 * call is no longer there.
 */
const LAZY_PCSC_MINI = "createRequire(import.meta.url)('pcsc-mini')";
const seaPcscMiniPlugin = {
  name: 'cardlend-sea-pcsc-mini',
  setup(b) {
    b.onLoad(
      { filter: /[\\/]packages[\\/]pcsc[\\/]src[\\/]pcsc-mini-binding\.ts$/ },
      async (args) => {
        const { readFile } = await import('node:fs/promises');
        const source = await readFile(args.path, 'utf8');
        if (!source.includes(LAZY_PCSC_MINI))
          throw new Error(
            `${args.path} no longer loads pcsc-mini with ${LAZY_PCSC_MINI}; update build.mjs`,
          );
        return { contents: source.replace(LAZY_PCSC_MINI, "require('pcsc-mini')"), loader: 'ts' };
      },
    );
  },
};

/** Writes `bytes` to `file` through a temporary name, so a concurrent run never reads half a file. */
function writeAtomic(file, bytes) {
  mkdirSync(path.dirname(file), { recursive: true });
  const tmp = `${file}.${process.pid}.${Date.now()}.tmp`;
  writeFileSync(tmp, bytes);
  renameSync(tmp, file);
}

/**
 * Builds one bundle. Returns its path.
 * @param {{ sea?: boolean }} [opts]
 */
export async function buildBundle(opts = {}) {
  const isSea = opts.sea === true;
  const outfile = isSea ? SEA_BUNDLE : BUNDLE.file;
  const { build } = await import('esbuild'); // loaded only when a build is needed
  const result = await build({
    entryPoints: [path.join(cliRoot, 'src/cli.ts')],
    bundle: true,
    platform: 'node',
    target: 'node20',
    format: isSea ? 'cjs' : 'esm',
    outfile,
    write: false,
    metafile: true,
    logLevel: 'silent',
    legalComments: 'none',
    sourcemap: false,
    external: isSea ? WS_OPTIONAL : [...WS_OPTIONAL, 'pcsc-mini'],
    plugins: isSea ? [seaAddonPlugin, seaPcscMiniPlugin] : [],
    // ws skips its optional native modules (never installed here; in the single executable a
    // require() of anything but a built-in only prints a warning before failing).
    define: { 'process.env.WS_NO_BUFFER_UTIL': '"1"', 'process.env.WS_NO_UTF_8_VALIDATE': '"1"' },
    // CommonJS dependencies (ws) call require() for Node built-ins; give the ESM bundle one.
    banner: isSea
      ? {}
      : {
          js: "import { createRequire as __cardlendCreateRequire } from 'node:module';\nconst require = __cardlendCreateRequire(import.meta.url);",
        },
  });
  for (const f of result.outputFiles) writeAtomic(f.path, f.contents);
  if (!isSea) {
    const inputs = Object.keys(result.metafile.inputs).map((p) => path.resolve(process.cwd(), p));
    writeAtomic(BUNDLE.inputs, JSON.stringify({ inputs }));
  }
  return outfile;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const file = await buildBundle({ sea: process.argv.includes('--sea') });
  process.stdout.write(`${path.relative(process.cwd(), file)}\n`);
}
