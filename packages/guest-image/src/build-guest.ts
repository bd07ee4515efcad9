/**
 * Builds the guest (ELF vmlinux + uncompressed newc initramfs) from Debian 12 packages,
 * fetched with `apt-get download` into a git-ignored cache and unpacked with `dpkg-deb`.
 * Nothing prebuilt is committed. Recipe: shared/docs/qemu-guest.md.
 *
 * This module owns the cache (key, lock, store, prune); the steps live in ./image/: the recipe,
 * apt downloads, unpacking, the kernel and its modules, and the initramfs tree.
 */
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { writeCpio } from './cpio.ts';
import { GuestImageError } from './errors.ts';
import { downloadPackages } from './image/apt.ts';
import { acquireLock } from './image/build-lock.ts';
import { imageEntries } from './image/initramfs-tree.ts';
import { moduleClosure, unpackKernel } from './image/kernel.ts';
import { DLOPENED, ENTRY_POINTS, GUEST_PACKAGES, ROOT_MODULES } from './image/recipe.ts';
import { unpackUserland } from './image/unpack.ts';
import { renderInitScript } from './init-script.ts';

export { GUEST_PACKAGES } from './image/recipe.ts';

/** Bump when the builder's output format changes (part of the cache key). */
const BUILDER_VERSION = 1;

/** Options of {@link buildGuest}. */
export interface BuildGuestOptions {
  /** Cache folder (default `<repo>/.cache/guest`, git-ignored). */
  cacheDir?: string;
  /** Diagnostics (progress lines); the library never prints. */
  onLog?: (line: string) => void;
}

/** A built guest, ready for {@link bootGuest}. */
export interface GuestImage {
  /** ELF vmlinux extracted from Debian's bzImage (boots through the PVH entry, no decompression). */
  kernelPath: string;
  /** Uncompressed newc initramfs. */
  initrdPath: string;
  /** e.g. `6.1.0-56-amd64`. */
  kernelVersion: string;
  /** Cache key: hash of the package list, the init script and the builder version. */
  key: string;
  /** True when the image came from the cache without any work. */
  isCacheHit: boolean;
  /** Wall time of this call, ms. */
  buildMs: number;
}

/** `<repo>/.cache/guest`, found from this file's location. */
export function defaultCacheDir(): string {
  return resolve(dirname(fileURLToPath(import.meta.url)), '../../../.cache/guest');
}

const inFlight = new Map<string, Promise<GuestImage>>();

/**
 * Builds the guest image, or returns the cached one when the package list and init script
 * are unchanged. Concurrent calls in one process share one build; builds in different
 * processes are safe (every output is written to a temporary name and renamed).
 * Needs `apt-get`, `apt-cache`, `dpkg-deb`, `tar` and `xz` (Debian package `xz-utils`).
 * @throws GuestImageError GUEST_TOOL_FAILED, GUEST_PACKAGE_UNAVAILABLE, GUEST_MISSING_FILE, GUEST_BAD_FORMAT
 */
export function buildGuest(opts: BuildGuestOptions = {}): Promise<GuestImage> {
  const cacheDir = resolve(opts.cacheDir ?? defaultCacheDir());
  let p = inFlight.get(cacheDir);
  if (!p) {
    p = doBuild(cacheDir, opts.onLog ?? (() => undefined));
    inFlight.set(cacheDir, p);
    p.catch(() => inFlight.delete(cacheDir));
  }
  return p;
}

async function doBuild(cacheDir: string, log: (line: string) => void): Promise<GuestImage> {
  const started = performance.now();
  const init = renderInitScript(['@MODULES@']);
  const key = createHash('sha256')
    .update(
      JSON.stringify({
        v: BUILDER_VERSION,
        packages: GUEST_PACKAGES,
        init,
        ENTRY_POINTS,
        DLOPENED,
        ROOT_MODULES,
      }),
    )
    .digest('hex')
    .slice(0, 16);
  const outDir = join(cacheDir, `image-${key}`);
  const manifestPath = join(outDir, 'manifest.json');
  if (existsSync(manifestPath)) {
    const manifest = JSON.parse(await readFile(manifestPath, 'utf8')) as { kernelVersion: string };
    return {
      kernelPath: join(outDir, 'vmlinux'),
      initrdPath: join(outDir, 'initramfs.cpio'),
      kernelVersion: manifest.kernelVersion,
      key,
      isCacheHit: true,
      buildMs: performance.now() - started,
    };
  }
  await mkdir(cacheDir, { recursive: true });
  const release = await acquireLock(join(cacheDir, '.build-lock'), log);
  try {
    if (existsSync(manifestPath)) return await doBuild(cacheDir, log); // another process built it meanwhile
    return await buildUnlocked(cacheDir, key, outDir, manifestPath, started, log);
  } finally {
    await release();
  }
}

async function buildUnlocked(
  cacheDir: string,
  key: string,
  outDir: string,
  manifestPath: string,
  started: number,
  log: (line: string) => void,
): Promise<GuestImage> {
  const debs = await downloadPackages(join(cacheDir, 'debs'), log);
  const kernelDeb = debs.find((d) => /^linux-image-\d/.test(d.name));
  if (!kernelDeb)
    throw new GuestImageError('GUEST_PACKAGE_UNAVAILABLE', 'no versioned kernel package');
  const [root, kernel] = await Promise.all([
    unpackUserland(
      cacheDir,
      debs.filter((d) => d !== kernelDeb),
      log,
    ),
    unpackKernel(cacheDir, kernelDeb.file, log),
  ]);

  const modules = await moduleClosure(kernel.modulesDir);
  const entries = await imageEntries(root, modules, renderInitScript(modules.map((m) => m.name)));
  const cpio = writeCpio(entries);

  const tmp = await mkdtemp(join(cacheDir, '.tmp-image-'));
  await writeFile(join(tmp, 'initramfs.cpio'), cpio);
  await writeFile(join(tmp, 'vmlinux'), await readFile(kernel.vmlinux));
  await writeFile(
    join(tmp, 'manifest.json'),
    JSON.stringify(
      {
        key,
        kernelVersion: kernel.version,
        packages: debs.map((d) => d.file),
        modules: modules.map((m) => m.name),
        initramfsBytes: cpio.length,
      },
      null,
      2,
    ),
  );
  try {
    await rename(tmp, outDir);
  } catch (e) {
    // Another process finished the same build first.
    await rm(tmp, { recursive: true, force: true });
    if (!existsSync(manifestPath))
      throw new GuestImageError('GUEST_TOOL_FAILED', 'cannot store the image', { cause: e });
  }
  log(`guest image ${key}: ${cpio.length} bytes initramfs, kernel ${kernel.version}`);
  await pruneOldImages(cacheDir, outDir);
  return {
    kernelPath: join(outDir, 'vmlinux'),
    initrdPath: join(outDir, 'initramfs.cpio'),
    kernelVersion: kernel.version,
    key,
    isCacheHit: false,
    buildMs: performance.now() - started,
  };
}

/** Images built by other init scripts/builders are ~90 MB each: drop those unused for an hour. */
async function pruneOldImages(cacheDir: string, keep: string): Promise<void> {
  const hourAgo = Date.now() - 3_600_000;
  for (const name of await readdir(cacheDir)) {
    const dir = join(cacheDir, name);
    if (!name.startsWith('image-') || dir === keep) continue;
    const st = await stat(dir).catch(() => undefined);
    if (st && st.mtimeMs < hourAgo) await rm(dir, { recursive: true, force: true });
  }
}
