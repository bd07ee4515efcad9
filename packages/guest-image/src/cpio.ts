/**
 * Writer for the "newc" cpio format (SVR4 without checksums), the format the Linux kernel
 * unpacks as an initramfs (kernel docs: Documentation/driver-api/early-userspace/buffer-format.rst).
 * Pure: entries in, bytes out.
 */

/** One archive member. Paths are relative (no leading `/`). */
export type CpioEntry =
  | { kind: 'dir'; path: string; mode?: number }
  | { kind: 'file'; path: string; data: Uint8Array; mode?: number }
  | { kind: 'symlink'; path: string; target: string }
  | { kind: 'chardev'; path: string; major: number; minor: number; mode?: number };

const S_IFDIR = 0o040000;
const S_IFREG = 0o100000;
const S_IFLNK = 0o120000;
const S_IFCHR = 0o020000;
const encoder = new TextEncoder();

function hex8(n: number): string {
  return (n >>> 0).toString(16).padStart(8, '0');
}

function pad4(n: number): number {
  return (4 - (n % 4)) % 4;
}

/**
 * Encodes entries into an uncompressed newc archive ending with `TRAILER!!!`.
 * Members are written in the given order; parents must come before children.
 * @param mtimeS modification time stamped on every member, seconds (default 0: reproducible).
 */
export function writeCpio(entries: readonly CpioEntry[], mtimeS = 0): Uint8Array {
  const chunks: Uint8Array[] = [];
  let ino = 1;
  const member = (
    path: string,
    mode: number,
    data: Uint8Array,
    rdevMajor = 0,
    rdevMinor = 0,
  ): void => {
    const name = encoder.encode(path + '\0');
    const header =
      '070701' +
      [
        ino++,
        mode,
        0,
        0,
        mode & S_IFDIR ? 2 : 1,
        mtimeS,
        data.length,
        0,
        0,
        rdevMajor,
        rdevMinor,
        name.length,
        0,
      ]
        .map(hex8)
        .join('');
    chunks.push(encoder.encode(header), name, new Uint8Array(pad4(110 + name.length)));
    chunks.push(data, new Uint8Array(pad4(data.length)));
  };
  for (const e of entries) {
    if (e.path.startsWith('/') || e.path === '')
      throw new RangeError(`cpio path must be relative: ${e.path}`);
    switch (e.kind) {
      case 'dir':
        member(e.path, S_IFDIR | (e.mode ?? 0o755), new Uint8Array(0));
        break;
      case 'file':
        member(e.path, S_IFREG | (e.mode ?? 0o644), e.data);
        break;
      case 'symlink':
        member(e.path, S_IFLNK | 0o777, encoder.encode(e.target));
        break;
      case 'chardev':
        member(e.path, S_IFCHR | (e.mode ?? 0o600), new Uint8Array(0), e.major, e.minor);
        break;
    }
  }
  member('TRAILER!!!', 0, new Uint8Array(0));
  return Buffer.concat(chunks);
}
