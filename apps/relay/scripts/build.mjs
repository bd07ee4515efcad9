/**
 * Builds the relay's run-time artefacts with esbuild: dist/main.js (the relay) and
 * dist/cli/mint-token.js (the link minting tool), ES modules for Node 20. Workspace packages
 * (@cardlend/vscard, TypeScript source) are bundled in; npm dependencies (ws, pino,
 * prom-client) stay external and load from node_modules, as `pnpm install` put them.
 * Usage: node scripts/build.mjs  (run by `pnpm start` / `pnpm relay` before starting).
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const appDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const pkg = JSON.parse(readFileSync(path.join(appDir, 'package.json'), 'utf8'));
const external = Object.keys(pkg.dependencies ?? {}).filter((d) => !d.startsWith('@cardlend/'));

const result = await build({
  absWorkingDir: appDir,
  entryPoints: ['src/main.ts', 'src/cli/mint-token.ts'],
  outbase: 'src',
  outdir: 'dist',
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  external,
  sourcemap: 'linked',
  legalComments: 'none',
  logLevel: 'warning',
  metafile: true,
});
const bytes = Object.entries(result.metafile.outputs)
  .filter(([file]) => file.endsWith('.js'))
  .map(([file, out]) => `${file} ${(out.bytes / 1024).toFixed(0)} KiB`);
process.stderr.write(`relay build: ${bytes.join(', ')}\n`);
