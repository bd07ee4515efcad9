/**
 * QEMU 10.0 from Debian's bookworm-backports suite, fetched with a private apt list and
 * unpacked into `<repo>/.cache/qemu10` — never installed system-wide
 * (shared/docs/qemu-guest.md, "A second QEMU").
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { TestbedError } from './errors.ts';
import { findRepoRoot } from './paths.ts';
import { isProcessAlive } from './process-alive.ts';

const run = promisify(execFile);

/** Where and how to run the unpacked QEMU 10. */
export interface Qemu10Install {
  /** Unpacked filesystem root (contains `usr/bin/qemu-system-x86_64`). */
  root: string;
  /** The emulator binary. */
  binary: string;
  /** Environment additions: `QEMU_MODULE_DIR` (the smart card devices live in `hw-usb-smartcard.so`). */
  env: Record<string, string>;
  /** Extra arguments every run needs: `-L <root>/usr/share/qemu` (firmware, keymaps). */
  args: string[];
}

/** Packages that make up a runnable qemu-system-x86_64 10.0 (on Debian 12's own libraries). */
export const QEMU10_PACKAGES = [
  'qemu-system-x86',
  'qemu-system-common',
  'qemu-system-data',
] as const;
const SUITE = 'bookworm-backports';
const KEYRING = '/usr/share/keyrings/debian-archive-keyring.gpg';
const FALLBACK_MIRROR = 'http://deb.debian.org/debian';

/** The install that `ensureQemu10` would produce for a given cache directory. */
export function qemu10Layout(cacheDir: string): Qemu10Install {
  const root = path.join(cacheDir, 'root');
  return {
    root,
    binary: path.join(root, 'usr/bin/qemu-system-x86_64'),
    env: { QEMU_MODULE_DIR: path.join(root, 'usr/lib/x86_64-linux-gnu/qemu') },
    args: ['-L', path.join(root, 'usr/share/qemu')],
  };
}

/** Default cache directory: `<repo>/.cache/qemu10` (git-ignored). */
export function defaultQemu10CacheDir(): string {
  return path.join(findRepoRoot(), '.cache', 'qemu10');
}

/**
 * The Debian archive URL this machine already uses, read from
 * `/etc/apt/sources.list.d/*.sources` (deb822) and `*.list` / `/etc/apt/sources.list`
 * (one-line form): the first source that carries a `bookworm` suite.
 */
export async function findDebianMirror(aptDir = '/etc/apt'): Promise<string> {
  const files: string[] = [];
  const partsDir = path.join(aptDir, 'sources.list.d');
  if (existsSync(partsDir)) {
    for (const name of (await readdir(partsDir)).sort()) {
      if (name.endsWith('.sources') || name.endsWith('.list'))
        files.push(path.join(partsDir, name));
    }
  }
  if (existsSync(path.join(aptDir, 'sources.list'))) files.push(path.join(aptDir, 'sources.list'));
  for (const file of files) {
    const text = await readFile(file, 'utf8');
    const found = file.endsWith('.sources') ? mirrorFromDeb822(text) : mirrorFromOneLine(text);
    if (found !== undefined) return found;
  }
  return FALLBACK_MIRROR;
}

/** @internal exported for tests */
export function mirrorFromDeb822(text: string): string | undefined {
  for (const stanza of text.split(/\n\s*\n/)) {
    const fields = new Map<string, string>();
    for (const line of stanza.split('\n')) {
      const m = /^([A-Za-z-]+):\s*(.*)$/.exec(line);
      if (m?.[1] !== undefined && m[2] !== undefined) fields.set(m[1].toLowerCase(), m[2].trim());
    }
    const types = (fields.get('types') ?? '').split(/\s+/);
    const suites = (fields.get('suites') ?? '').split(/\s+/);
    const uri = (fields.get('uris') ?? '').split(/\s+/)[0];
    if (types.includes('deb') && suites.includes('bookworm') && uri) return uri.replace(/\/+$/, '');
  }
  return undefined;
}

/** @internal exported for tests */
export function mirrorFromOneLine(text: string): string | undefined {
  for (const raw of text.split('\n')) {
    const line = raw.replace(/#.*/, '').trim();
    const m = /^deb\s+(?:\[[^\]]*\]\s+)?(\S+)\s+bookworm(?:\s|$)/.exec(line);
    if (m?.[1] !== undefined) return m[1].replace(/\/+$/, '');
  }
  return undefined;
}

/** Options for {@link ensureQemu10}. */
export interface EnsureQemu10Options {
  /** Default `<repo>/.cache/qemu10`. */
  cacheDir?: string;
  /** Default: found by {@link findDebianMirror}. */
  mirror?: string;
  /** Progress lines (the library never prints). */
  onLog?: (line: string) => void;
}

/**
 * Makes sure QEMU 10.0 is unpacked in the cache and returns how to run it. Skips all work
 * when the cache is complete. Safe against concurrent callers (a lock directory).
 * Needs `apt-get` and `dpkg-deb` and network access to the Debian archive; runs as root.
 */
export async function ensureQemu10(opts: EnsureQemu10Options = {}): Promise<Qemu10Install> {
  const cacheDir = opts.cacheDir ?? defaultQemu10CacheDir();
  const layout = qemu10Layout(cacheDir);
  const marker = path.join(cacheDir, 'complete');
  if (existsSync(marker) && existsSync(layout.binary)) return layout;
  await mkdir(cacheDir, { recursive: true });
  const lock = path.join(cacheDir, 'lock');
  await acquireLock(lock);
  try {
    if (existsSync(marker) && existsSync(layout.binary)) return layout;
    await fetchInto(cacheDir, opts);
    await writeFile(marker, new Date().toISOString() + '\n');
    return layout;
  } finally {
    await rm(lock, { recursive: true, force: true });
  }
}

async function acquireLock(lock: string): Promise<void> {
  const deadline = Date.now() + 5 * 60_000;
  for (;;) {
    try {
      await mkdir(lock);
      await writeFile(path.join(lock, 'pid'), String(process.pid));
      return;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      // A lock left by a dead process is stale.
      const pid = Number(await readFile(path.join(lock, 'pid'), 'utf8').catch(() => ''));
      if (pid > 0 && !isProcessAlive(pid)) {
        await rm(lock, { recursive: true, force: true });
        continue;
      }
      if (Date.now() > deadline) {
        throw new TestbedError('TESTBED_FETCH_FAILED', `timed out waiting for ${lock}`);
      }
      await new Promise((r) => setTimeout(r, 250));
    }
  }
}

async function fetchInto(cacheDir: string, opts: EnsureQemu10Options): Promise<void> {
  const log = opts.onLog ?? (() => {});
  const mirror = opts.mirror ?? (await findDebianMirror());
  const aptDir = path.join(cacheDir, 'apt');
  const debDir = path.join(cacheDir, 'debs');
  const tmpRoot = path.join(cacheDir, 'root.tmp');
  await rm(tmpRoot, { recursive: true, force: true });
  await rm(debDir, { recursive: true, force: true });
  for (const d of [
    path.join(aptDir, 'lists/partial'),
    path.join(aptDir, 'cache/archives/partial'),
    debDir,
    tmpRoot,
  ]) {
    await mkdir(d, { recursive: true });
  }
  const signedBy = existsSync(KEYRING) ? `[signed-by=${KEYRING}] ` : '';
  const sourceList = path.join(aptDir, 'sources.list');
  await writeFile(
    sourceList,
    `deb ${signedBy}${mirror} bookworm main\ndeb ${signedBy}${mirror} ${SUITE} main\n`,
  );
  // A private list and cache: the machine's own apt state is never touched.
  const aptOpts = [
    '-o',
    `Dir::Etc::sourcelist=${sourceList}`,
    '-o',
    'Dir::Etc::sourceparts=-',
    '-o',
    `Dir::State::Lists=${path.join(aptDir, 'lists')}`,
    '-o',
    `Dir::Cache=${path.join(aptDir, 'cache')}`,
    '-o',
    'APT::Sandbox::User=root',
  ];
  try {
    log(`apt-get update (${mirror} bookworm, ${SUITE})`);
    await run('apt-get', ['-q', ...aptOpts, 'update'], { maxBuffer: 16 << 20 });
    log(`apt-get download ${QEMU10_PACKAGES.join(' ')}`);
    await run(
      'apt-get',
      ['-q', ...aptOpts, 'download', ...QEMU10_PACKAGES.map((p) => `${p}/${SUITE}`)],
      {
        cwd: debDir,
        maxBuffer: 16 << 20,
      },
    );
    for (const deb of (await readdir(debDir)).filter((f) => f.endsWith('.deb'))) {
      log(`dpkg-deb -x ${deb}`);
      await run('dpkg-deb', ['-x', path.join(debDir, deb), tmpRoot]);
    }
  } catch (e) {
    const stderr = (e as { stderr?: string }).stderr ?? '';
    throw new TestbedError(
      'TESTBED_FETCH_FAILED',
      `fetching QEMU 10 failed: ${stderr.trim().slice(-500)}`,
      {
        cause: e,
      },
    );
  }
  const root = path.join(cacheDir, 'root');
  await rm(root, { recursive: true, force: true });
  await rename(tmpRoot, root);
  await rm(debDir, { recursive: true, force: true });
  if (!existsSync(qemu10Layout(cacheDir).binary)) {
    throw new TestbedError(
      'TESTBED_FETCH_FAILED',
      'the unpacked packages hold no qemu-system-x86_64',
    );
  }
}
