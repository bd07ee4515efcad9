/** Userland packages unpacked with `dpkg-deb` into one tree, cached by the set of .deb files. */
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { run } from '../exec.ts';
import type { Deb } from './apt.ts';

/** A short hash of `parts`, for cache folder names. */
export function hashOf(parts: readonly string[]): string {
  return createHash('sha256').update(parts.join('\n')).digest('hex').slice(0, 16);
}

/** Unpacks all userland packages into one tree, cached by the set of .deb file names. */
export async function unpackUserland(
  cacheDir: string,
  debs: readonly Deb[],
  log: (line: string) => void,
): Promise<string> {
  const dir = join(cacheDir, `root-${hashOf(debs.map((d) => d.file).sort())}`);
  if (existsSync(join(dir, '.complete'))) return dir;
  log(`unpacking ${debs.length} packages`);
  const tmp = await mkdtemp(join(cacheDir, '.tmp-root-'));
  // dpkg-deb runs are independent; a few at a time keeps the 2-core machine responsive.
  const queue = [...debs];
  await Promise.all(
    Array.from({ length: 4 }, async () => {
      for (let d = queue.shift(); d; d = queue.shift()) await run('dpkg-deb', ['-x', d.file, tmp]);
    }),
  );
  await writeFile(join(tmp, '.complete'), '');
  await rename(tmp, dir).catch(async () => rm(tmp, { recursive: true, force: true }));
  return dir;
}
