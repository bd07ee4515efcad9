/**
 * Builds the guest (ELF vmlinux + uncompressed newc initramfs) from Debian 12 packages,
 * fetched with `apt-get download` into a git-ignored cache and unpacked with `dpkg-deb`.
 * Nothing prebuilt is committed. Recipe: shared/docs/qemu-guest.md.
 */
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import {
  mkdir,
  mkdtemp,
  readdir,
  readFile,
  readlink,
  rename,
  rm,
  stat,
  writeFile,
  lstat,
} from 'node:fs/promises';
import { dirname, join, posix, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { bzImagePayload } from './bzimage.ts';
import { writeCpio, type CpioEntry } from './cpio.ts';
import { isElf, moduleDepends, readElf } from './elf.ts';
import { GuestImageError, isGuestImageError } from './errors.ts';
import { pipe2, run } from './exec.ts';
import { renderInitScript } from './init-script.ts';

/** Debian 12 packages the guest is made of (`linux-image-amd64` is resolved to its versioned package). */
export const GUEST_PACKAGES = [
  'linux-image-amd64',
  'busybox-static',
  'pcscd',
  'libccid',
  'libpcsclite1',
  'pcsc-tools',
  'opensc',
  'opensc-pkcs11',
  'libusb-1.0-0',
  'libudev1',
  'libsystemd0',
  'libcap2',
  'libgcrypt20',
  'libgpg-error0',
  'liblz4-1',
  'liblzma5',
  'libzstd1',
  'libssl3',
  'zlib1g',
  'libglib2.0-0',
  'libffi8',
  'libmount1',
  'libblkid1',
  'libselinux1',
  'libpcre2-8-0',
  'libc6',
  'libgcc-s1',
] as const;

/** Programs and dlopen'ed libraries put into the image, with their DT_NEEDED closure (paths in the packages). */
const ENTRY_POINTS = [
  'usr/sbin/pcscd',
  'usr/bin/opensc-tool',
  'usr/bin/pkcs11-tool',
  'usr/bin/pkcs15-tool',
  'usr/bin/pcsc_scan',
  'usr/lib/x86_64-linux-gnu/opensc-pkcs11.so',
  'usr/lib/pcsc/drivers/ifd-ccid.bundle/Contents/Linux/libccid.so',
];
/** Loaded with dlopen, so no DT_NEEDED points at them: libpcsclite (by OpenSC), libgcc_s (by glibc). */
const DLOPENED = ['libpcsclite.so.1', 'libgcc_s.so.1'];
const PLAIN_FILES = [
  'usr/lib/pcsc/drivers/ifd-ccid.bundle/Contents/Info.plist',
  'etc/opensc/opensc.conf',
];
/** USB host stack for QEMU's qemu-xhci controller; dependencies come from `.modinfo`. */
const ROOT_MODULES = ['xhci-pci'];
const LIB_DIRS = ['usr/lib/x86_64-linux-gnu', 'lib/x86_64-linux-gnu', 'usr/lib', 'lib'];
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

/** Stale locks (a crashed build) are broken after this long, ms. */
const LOCK_STALE_MS = 10 * 60_000;

/** Cross-process mutex: mkdir is atomic. Returns the release function. */
async function acquireLock(dir: string, log: (line: string) => void): Promise<() => Promise<void>> {
  let announced = false;
  for (;;) {
    try {
      await mkdir(dir);
      return () => rm(dir, { recursive: true, force: true });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') {
        throw new GuestImageError('GUEST_TOOL_FAILED', 'cannot create the build lock', {
          cause: e,
        });
      }
      const st = await stat(dir).catch(() => undefined);
      if (st && Date.now() - st.mtimeMs > LOCK_STALE_MS) {
        await rm(dir, { recursive: true, force: true });
        continue;
      }
      if (!announced) log('waiting for another guest build to finish');
      announced = true;
      await new Promise((r) => setTimeout(r, 200));
    }
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

interface Deb {
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
async function downloadPackages(debsDir: string, log: (line: string) => void): Promise<Deb[]> {
  await mkdir(debsDir, { recursive: true });
  const have = new Map(
    (await readdir(debsDir)).filter((f) => f.endsWith('.deb')).map((f) => [debName(f), f]),
  );
  const haveKernel = [...have.keys()].find((n) => /^linux-image-\d/.test(n));
  const names: string[] = GUEST_PACKAGES.filter((n) => n !== 'linux-image-amd64');
  names.push(haveKernel ?? (await resolveKernelPackage(log)));
  const missing = names.filter((n) => !have.has(n));
  if (missing.length > 0) {
    log(`apt-get download ${missing.join(' ')}`);
    const tmp = await mkdtemp(join(debsDir, '.tmp-'));
    try {
      const download = (): Promise<unknown> =>
        run('apt-get', [...aptOptions(), 'download', '-q', ...missing], { cwd: tmp });
      await download().catch(async (e: unknown) => {
        // Empty or stale lists: refresh once, then try again.
        if (!isGuestImageError(e)) throw e;
        await aptUpdate(log);
        await download().catch((cause: unknown) => {
          throw new GuestImageError(
            'GUEST_PACKAGE_UNAVAILABLE',
            `apt-get download failed for ${missing.join(' ')}`,
            { cause },
          );
        });
      });
      for (const f of await readdir(tmp)) {
        if (!f.endsWith('.deb')) continue;
        await rename(join(tmp, f), join(debsDir, f));
        have.set(debName(f), f);
      }
    } finally {
      await rm(tmp, { recursive: true, force: true });
    }
  }
  return names.map((name) => {
    const f = have.get(name);
    if (!f)
      throw new GuestImageError('GUEST_PACKAGE_UNAVAILABLE', `package ${name} was not downloaded`);
    return { name, file: join(debsDir, f) };
  });
}

function hashOf(parts: readonly string[]): string {
  return createHash('sha256').update(parts.join('\n')).digest('hex').slice(0, 16);
}

/** Unpacks all userland packages into one tree, cached by the set of .deb file names. */
async function unpackUserland(
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

interface KernelFiles {
  version: string;
  vmlinux: string;
  modulesDir: string;
}

/** Extracts only boot/vmlinuz-* and drivers/usb from the kernel package, then the ELF vmlinux. */
async function unpackKernel(
  cacheDir: string,
  debFile: string,
  log: (line: string) => void,
): Promise<KernelFiles> {
  const dir = join(cacheDir, `kernel-${hashOf([debFile])}`);
  const read = async (): Promise<KernelFiles> => {
    const boot = await readdir(join(dir, 'boot'));
    const vmlinuz = boot.find((f) => f.startsWith('vmlinuz-'));
    if (!vmlinuz)
      throw new GuestImageError('GUEST_MISSING_FILE', 'no boot/vmlinuz-* in the kernel package');
    const version = vmlinuz.slice('vmlinuz-'.length);
    return {
      version,
      vmlinux: join(dir, 'vmlinux'),
      modulesDir: join(dir, 'lib/modules', version, 'kernel/drivers/usb'),
    };
  };
  if (existsSync(join(dir, '.complete'))) return read();
  log('unpacking the kernel (boot image + USB modules)');
  const tmp = await mkdtemp(join(cacheDir, '.tmp-kernel-'));
  await pipe2(
    { command: 'dpkg-deb', args: ['--fsys-tarfile', debFile] },
    {
      command: 'tar',
      args: [
        '-x',
        '-C',
        tmp,
        '--wildcards',
        './boot/vmlinuz-*',
        './lib/modules/*/kernel/drivers/usb/*',
      ],
    },
  );
  const boot = await readdir(join(tmp, 'boot'));
  const vmlinuz = boot.find((f) => f.startsWith('vmlinuz-'));
  if (!vmlinuz)
    throw new GuestImageError('GUEST_MISSING_FILE', 'no boot/vmlinuz-* in the kernel package');
  const payload = bzImagePayload(await readFile(join(tmp, 'boot', vmlinuz)));
  if (payload.format !== 'xz') {
    throw new GuestImageError(
      'GUEST_BAD_FORMAT',
      `kernel payload is ${payload.format}; only xz is handled`,
    );
  }
  // --single-stream: the payload ends with a 4-byte size trailer after the XZ stream.
  const elf = await run('xz', ['-dc', '--single-stream'], { input: payload.bytes }).catch(
    (cause: unknown) => {
      throw new GuestImageError(
        'GUEST_TOOL_FAILED',
        'xz failed (install the Debian package xz-utils)',
        { cause },
      );
    },
  );
  if (!isElf(elf.stdout))
    throw new GuestImageError('GUEST_BAD_FORMAT', 'decompressed kernel is not an ELF vmlinux');
  await writeFile(join(tmp, 'vmlinux'), elf.stdout);
  await writeFile(join(tmp, '.complete'), '');
  await rename(tmp, dir).catch(async () => rm(tmp, { recursive: true, force: true }));
  return read();
}

interface Module {
  name: string;
  data: Uint8Array;
}

const modName = (s: string): string => s.replace(/-/g, '_');

/** ROOT_MODULES and their `depends=` closure, dependencies first. */
async function moduleClosure(modulesDir: string): Promise<Module[]> {
  const files = new Map<string, string>();
  const walk = async (d: string): Promise<void> => {
    for (const e of await readdir(d, { withFileTypes: true })) {
      if (e.isDirectory()) await walk(join(d, e.name));
      else if (e.name.endsWith('.ko')) files.set(modName(e.name.slice(0, -3)), join(d, e.name));
    }
  };
  await walk(modulesDir);
  const ordered: Module[] = [];
  const visiting = new Set<string>();
  const visit = async (name: string): Promise<void> => {
    const key = modName(name);
    if (ordered.some((m) => m.name === key) || visiting.has(key)) return;
    visiting.add(key);
    const file = files.get(key);
    if (!file) throw new GuestImageError('GUEST_MISSING_FILE', `kernel module ${name} not found`);
    const data = await readFile(file);
    for (const dep of moduleDepends(data)) await visit(dep);
    ordered.push({ name: key, data });
  };
  for (const m of ROOT_MODULES) await visit(m);
  return ordered;
}

/** Maps a path of the unpacked packages onto Debian 12's merged /usr. */
function merged(path: string): string {
  const m = /^(bin|sbin|lib|lib64)(\/.*)?$/.exec(path);
  return m ? `usr/${m[1]}${m[2] ?? ''}` : path;
}

/** Resolves symlinks inside the unpacked tree (absolute targets are relative to `root`). */
async function realPathIn(root: string, path: string): Promise<string> {
  let p = path;
  for (let hops = 0; hops < 20; hops++) {
    const st = await lstat(join(root, p)).catch(() => undefined);
    if (!st) {
      // The file may live on the other side of the merged-/usr split.
      const alt = p.startsWith('usr/') ? p.slice(4) : `usr/${p}`;
      if (existsSync(join(root, alt))) {
        p = alt;
        continue;
      }
      throw new GuestImageError('GUEST_MISSING_FILE', `${path} not found in the unpacked packages`);
    }
    if (!st.isSymbolicLink()) return p;
    const target = await readlink(join(root, p));
    p = target.startsWith('/')
      ? target.slice(1)
      : posix.normalize(posix.join(posix.dirname(p), target));
  }
  throw new GuestImageError('GUEST_BAD_FORMAT', `symlink loop at ${path}`);
}

async function findLibrary(root: string, soname: string): Promise<string> {
  for (const d of LIB_DIRS) {
    const p = `${d}/${soname}`;
    if (existsSync(join(root, p))) return p;
  }
  throw new GuestImageError(
    'GUEST_MISSING_FILE',
    `shared library ${soname} is in none of the packages (add its package to GUEST_PACKAGES)`,
  );
}

/** Everything that goes into the initramfs. */
async function imageEntries(
  root: string,
  modules: readonly Module[],
  init: string,
): Promise<CpioEntry[]> {
  const files = new Map<string, CpioEntry>();
  const addFile = async (dest: string, src: string, mode?: number): Promise<Uint8Array> => {
    const real = await realPathIn(root, src);
    const data = await readFile(join(root, real));
    const st = await stat(join(root, real));
    files.set(dest, { kind: 'file', path: dest, data, mode: mode ?? st.mode & 0o777 });
    return data;
  };
  const seenLibs = new Set<string>();
  const queue: { dest: string; src: string }[] = ENTRY_POINTS.map((p) => ({
    dest: merged(p),
    src: p,
  }));
  for (const soname of DLOPENED)
    queue.push({
      dest: `usr/lib/x86_64-linux-gnu/${soname}`,
      src: await findLibrary(root, soname),
    });
  let interpreter: string | null = null;
  for (let item = queue.shift(); item; item = queue.shift()) {
    const data = await addFile(item.dest, item.src);
    const elf = readElf(data);
    interpreter ??= elf.interpreter;
    for (const soname of elf.needed) {
      if (seenLibs.has(soname)) continue;
      seenLibs.add(soname);
      queue.push({
        dest: `usr/lib/x86_64-linux-gnu/${soname}`,
        src: await findLibrary(root, soname),
      });
    }
  }
  if (!interpreter) throw new GuestImageError('GUEST_BAD_FORMAT', 'no ELF interpreter found');
  // /lib64/ld-linux-x86-64.so.2 → the real loader under usr/lib/x86_64-linux-gnu.
  const interpName = posix.basename(interpreter);
  await addFile(`usr/lib/x86_64-linux-gnu/${interpName}`, interpreter.slice(1), 0o755);
  const interpDest = merged(interpreter.slice(1));
  if (interpDest !== `usr/lib/x86_64-linux-gnu/${interpName}`) {
    files.set(interpDest, {
      kind: 'symlink',
      path: interpDest,
      target: `/usr/lib/x86_64-linux-gnu/${interpName}`,
    });
  }
  for (const p of PLAIN_FILES) await addFile(merged(p), p);
  await addFile('usr/bin/busybox', 'bin/busybox', 0o755);
  files.set('usr/bin/sh', { kind: 'symlink', path: 'usr/bin/sh', target: 'busybox' });
  for (const m of modules)
    files.set(`usr/lib/modules/${m.name}.ko`, {
      kind: 'file',
      path: `usr/lib/modules/${m.name}.ko`,
      data: m.data,
    });
  files.set('init', {
    kind: 'file',
    path: 'init',
    data: new TextEncoder().encode(init),
    mode: 0o755,
  });

  const dirs = new Set<string>([
    'dev',
    'proc',
    'sys',
    'run',
    'tmp',
    'etc',
    'usr/bin',
    'usr/sbin',
    'usr/lib64',
  ]);
  for (const p of files.keys()) {
    for (let d = posix.dirname(p); d !== '.'; d = posix.dirname(d)) dirs.add(d);
  }
  for (const d of [...dirs])
    for (let x = posix.dirname(d); x !== '.'; x = posix.dirname(x)) dirs.add(x);
  const sortedDirs = [...dirs].sort(
    (a, b) => a.split('/').length - b.split('/').length || a.localeCompare(b),
  );
  return [
    ...sortedDirs.map((path): CpioEntry => ({
      kind: 'dir',
      path,
      mode: path === 'tmp' ? 0o1777 : 0o755,
    })),
    { kind: 'chardev', path: 'dev/console', major: 5, minor: 1 },
    { kind: 'symlink', path: 'bin', target: 'usr/bin' },
    { kind: 'symlink', path: 'sbin', target: 'usr/sbin' },
    { kind: 'symlink', path: 'lib', target: 'usr/lib' },
    { kind: 'symlink', path: 'lib64', target: 'usr/lib64' },
    ...[...files.values()].sort((a, b) => a.path.localeCompare(b.path)),
  ];
}
