/** Debian packages fetched with `apt-get download` into the cache (lists refreshed once if stale). */
import { mkdir, mkdtemp, readdir, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { GuestImageError, isGuestImageError } from '../errors.ts';
import { run } from '../exec.ts';
import { GUEST_PACKAGES } from './recipe.ts';

/** A downloaded package: its name and its .deb file. */
export interface Deb {
  name: string;
  file: string;
}

const aptOptions = (): string[] =>
  process.getuid?.() === 0 ? ['-o', 'APT::Sandbox::User=root'] : [];

async function aptUpdate(log: (line: string) => void): Promise<void> {
  log('apt-get update');
  await run('apt-get', [...aptOptions(), 'update', '-qq']);
}

/** `linux-image-amd64` → `linux-image-6.1.0-NN-amd64` through `apt-cache depends`. */
async function resolveKernelPackage(log: (line: string) => void): Promise<string> {
  for (let attempt = 0; attempt < 2; attempt++) {
    const found = await run('apt-cache', ['depends', 'linux-image-amd64']).then(
      (r) => /Depends:\s*(linux-image-\d\S*)/.exec(r.stdout.toString('utf8'))?.[1],
      () => undefined,
    );
    if (found) return found;
    if (attempt === 0) await aptUpdate(log);
  }
  throw new GuestImageError(
    'GUEST_PACKAGE_UNAVAILABLE',
    'cannot resolve linux-image-amd64 (apt lists?)',
  );
}

function debName(file: string): string {
  return file.slice(0, file.indexOf('_'));
}

/** Downloads the packages missing from `debsDir` (one `apt-get download` call). */
export async function downloadPackages(
  debsDir: string,
  log: (line: string) => void,
): Promise<Deb[]> {
  await mkdir(debsDir, { recursive: true });
  const have = new Map(
    (await readdir(debsDir)).filter((f) => f.endsWith('.deb')).map((f) => [debName(f), f]),
  );
  const haveKernel = [...have.keys()].find((n) => /^linux-image-\d/.test(n));
  const names: string[] = GUEST_PACKAGES.filter((n) => n !== 'linux-image-amd64');
  names.push(haveKernel ?? (await resolveKernelPackage(log)));
  const missing = names.filter((n) => !have.has(n));
  if (missing.length > 0) {
    for (const f of await aptDownload(debsDir, missing, log)) have.set(debName(f), f);
  }
  return names.map((name) => {
    const f = have.get(name);
    if (!f)
      throw new GuestImageError('GUEST_PACKAGE_UNAVAILABLE', `package ${name} was not downloaded`);
    return { name, file: join(debsDir, f) };
  });
}

/** `apt-get download` of `names` into `debsDir`; returns the .deb file names it stored. */
async function aptDownload(
  debsDir: string,
  names: readonly string[],
  log: (line: string) => void,
): Promise<string[]> {
  log(`apt-get download ${names.join(' ')}`);
  const tmp = await mkdtemp(join(debsDir, '.tmp-'));
  try {
    const download = (): Promise<unknown> =>
      run('apt-get', [...aptOptions(), 'download', '-q', ...names], { cwd: tmp });
    await download().catch(async (e: unknown) => {
      // Empty or stale lists: refresh once, then try again.
      if (!isGuestImageError(e)) throw e;
      await aptUpdate(log);
      await download().catch((cause: unknown) => {
        throw new GuestImageError(
          'GUEST_PACKAGE_UNAVAILABLE',
          `apt-get download failed for ${names.join(' ')}`,
          { cause },
        );
      });
    });
    const stored: string[] = [];
    for (const f of await readdir(tmp)) {
      if (!f.endsWith('.deb')) continue;
      await rename(join(tmp, f), join(debsDir, f));
      stored.push(f);
    }
    return stored;
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}
