/**
 * The guest kernel from Debian's kernel package: the bzImage's XZ payload decompressed to an ELF
 * vmlinux (booted through the PVH entry), and the USB modules with their `depends=` closure.
 */
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { bzImagePayload } from '../bzimage.ts';
import { isElf, moduleDepends } from '../elf.ts';
import { GuestImageError } from '../errors.ts';
import { pipe2, run } from '../exec.ts';
import { ROOT_MODULES } from './recipe.ts';
import { hashOf } from './unpack.ts';

export interface KernelFiles {
  version: string;
  vmlinux: string;
  modulesDir: string;
}

/** A kernel module's name (dashes as underscores) and bytes. */
export interface KernelModule {
  name: string;
  data: Uint8Array;
}

/** The vmlinuz-* file name in `bootDir`. */
async function findVmlinuz(bootDir: string): Promise<string> {
  const vmlinuz = (await readdir(bootDir)).find((f) => f.startsWith('vmlinuz-'));
  if (!vmlinuz)
    throw new GuestImageError('GUEST_MISSING_FILE', 'no boot/vmlinuz-* in the kernel package');
  return vmlinuz;
}

/** Extracts only boot/vmlinuz-* and drivers/usb from the kernel package, then the ELF vmlinux. */
export async function unpackKernel(
  cacheDir: string,
  debFile: string,
  log: (line: string) => void,
): Promise<KernelFiles> {
  const dir = join(cacheDir, `kernel-${hashOf([debFile])}`);
  const read = async (): Promise<KernelFiles> => {
    const version = (await findVmlinuz(join(dir, 'boot'))).slice('vmlinuz-'.length);
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
  const vmlinuz = await findVmlinuz(join(tmp, 'boot'));
  await writeFile(
    join(tmp, 'vmlinux'),
    await vmlinuxOf(await readFile(join(tmp, 'boot', vmlinuz))),
  );
  await writeFile(join(tmp, '.complete'), '');
  await rename(tmp, dir).catch(async () => rm(tmp, { recursive: true, force: true }));
  return read();
}

/** The ELF vmlinux inside a bzImage whose payload is XZ. */
async function vmlinuxOf(bzImage: Uint8Array): Promise<Uint8Array> {
  const payload = bzImagePayload(bzImage);
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
  return elf.stdout;
}

const modName = (s: string): string => s.replace(/-/g, '_');

/** ROOT_MODULES and their `depends=` closure, dependencies first. */
export async function moduleClosure(modulesDir: string): Promise<KernelModule[]> {
  const files = new Map<string, string>();
  const walk = async (d: string): Promise<void> => {
    for (const e of await readdir(d, { withFileTypes: true })) {
      if (e.isDirectory()) await walk(join(d, e.name));
      else if (e.name.endsWith('.ko')) files.set(modName(e.name.slice(0, -3)), join(d, e.name));
    }
  };
  await walk(modulesDir);
  const ordered: KernelModule[] = [];
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
