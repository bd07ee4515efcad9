/**
 * What goes into the initramfs: the recipe's programs with their shared-library closure and ELF
 * interpreter, busybox, the kernel modules and /init, laid out on Debian 12's merged /usr.
 */
import { existsSync } from 'node:fs';
import { lstat, readFile, readlink, stat } from 'node:fs/promises';
import { join, posix } from 'node:path';
import type { CpioEntry } from '../cpio.ts';
import { readElf } from '../elf.ts';
import { GuestImageError } from '../errors.ts';
import type { KernelModule } from './kernel.ts';
import { DLOPENED, ENTRY_POINTS, LIB_DIRS, PLAIN_FILES } from './recipe.ts';

const LIB_DEST = 'usr/lib/x86_64-linux-gnu';

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

/** Files of the image by destination path, copied from the unpacked tree. */
class ImageFiles {
  readonly entries = new Map<string, CpioEntry>();
  readonly #root: string;

  constructor(root: string) {
    this.#root = root;
  }

  /** Copies `src` (symlinks resolved) to `dest`; mode from the package unless given. */
  async add(dest: string, src: string, mode?: number): Promise<Uint8Array> {
    const real = await realPathIn(this.#root, src);
    const data = await readFile(join(this.#root, real));
    const st = await stat(join(this.#root, real));
    this.entries.set(dest, { kind: 'file', path: dest, data, mode: mode ?? st.mode & 0o777 });
    return data;
  }

  set(entry: CpioEntry): void {
    this.entries.set(entry.path, entry);
  }
}

/** Everything that goes into the initramfs. */
export async function imageEntries(
  root: string,
  modules: readonly KernelModule[],
  init: string,
): Promise<CpioEntry[]> {
  const files = new ImageFiles(root);
  const interpreter = await addProgramsAndLibraries(root, files);
  await addInterpreter(files, interpreter);
  for (const p of PLAIN_FILES) await files.add(merged(p), p);
  await files.add('usr/bin/busybox', 'bin/busybox', 0o755);
  files.set({ kind: 'symlink', path: 'usr/bin/sh', target: 'busybox' });
  for (const m of modules) {
    files.set({ kind: 'file', path: `usr/lib/modules/${m.name}.ko`, data: m.data });
  }
  files.set({ kind: 'file', path: 'init', data: new TextEncoder().encode(init), mode: 0o755 });
  return withDirectories([...files.entries.values()]);
}

/** ENTRY_POINTS and DLOPENED with their DT_NEEDED closure; returns the ELF interpreter's path. */
async function addProgramsAndLibraries(root: string, files: ImageFiles): Promise<string> {
  const seenLibs = new Set<string>();
  const queue: { dest: string; src: string }[] = ENTRY_POINTS.map((p) => ({
    dest: merged(p),
    src: p,
  }));
  for (const soname of DLOPENED)
    queue.push({ dest: `${LIB_DEST}/${soname}`, src: await findLibrary(root, soname) });
  let interpreter: string | null = null;
  for (let item = queue.shift(); item; item = queue.shift()) {
    const elf = readElf(await files.add(item.dest, item.src));
    interpreter ??= elf.interpreter;
    for (const soname of elf.needed) {
      if (seenLibs.has(soname)) continue;
      seenLibs.add(soname);
      queue.push({ dest: `${LIB_DEST}/${soname}`, src: await findLibrary(root, soname) });
    }
  }
  if (!interpreter) throw new GuestImageError('GUEST_BAD_FORMAT', 'no ELF interpreter found');
  return interpreter;
}

/** /lib64/ld-linux-x86-64.so.2 → the real loader under usr/lib/x86_64-linux-gnu. */
async function addInterpreter(files: ImageFiles, interpreter: string): Promise<void> {
  const interpName = posix.basename(interpreter);
  await files.add(`${LIB_DEST}/${interpName}`, interpreter.slice(1), 0o755);
  const interpDest = merged(interpreter.slice(1));
  if (interpDest !== `${LIB_DEST}/${interpName}`) {
    files.set({ kind: 'symlink', path: interpDest, target: `/${LIB_DEST}/${interpName}` });
  }
}

/** Folders first (parents before children), the root's links and /dev/console, then `files`. */
function withDirectories(files: CpioEntry[]): CpioEntry[] {
  const dirs = new Set<string>(['dev', 'proc', 'sys', 'run', 'tmp', 'etc']);
  for (const d of ['usr/bin', 'usr/sbin', 'usr/lib64']) dirs.add(d);
  for (const f of files) {
    for (let d = posix.dirname(f.path); d !== '.'; d = posix.dirname(d)) dirs.add(d);
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
    ...[...files].sort((a, b) => a.path.localeCompare(b.path)),
  ];
}
