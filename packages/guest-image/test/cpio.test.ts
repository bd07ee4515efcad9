import { describe, expect, it } from 'vitest';
import { writeCpio, type CpioEntry } from '../src/cpio.ts';

/** Independent newc reader (kernel buffer-format.rst) to check what the writer produced. */
function readNewc(
  bytes: Uint8Array,
): { name: string; mode: number; data: Uint8Array; rdev: [number, number] }[] {
  const text = new TextDecoder();
  const out: { name: string; mode: number; data: Uint8Array; rdev: [number, number] }[] = [];
  let off = 0;
  for (;;) {
    expect(text.decode(bytes.subarray(off, off + 6))).toBe('070701');
    const field = (i: number): number =>
      parseInt(text.decode(bytes.subarray(off + 6 + 8 * i, off + 14 + 8 * i)), 16);
    const mode = field(1);
    const size = field(6);
    const rdev: [number, number] = [field(9), field(10)];
    const nameSize = field(11);
    const name = text.decode(bytes.subarray(off + 110, off + 110 + nameSize - 1));
    expect(bytes[off + 110 + nameSize - 1]).toBe(0);
    off += 110 + nameSize;
    off += (4 - (off % 4)) % 4;
    const data = bytes.subarray(off, off + size);
    off += size;
    off += (4 - (off % 4)) % 4;
    if (name === 'TRAILER!!!') break;
    out.push({ name, mode, data, rdev });
  }
  expect(off).toBe(bytes.length);
  return out;
}

describe('writeCpio (newc)', () => {
  it('writes dirs, files, symlinks and a console device that read back identically', () => {
    const entries: CpioEntry[] = [
      { kind: 'dir', path: 'dev' },
      { kind: 'chardev', path: 'dev/console', major: 5, minor: 1 },
      { kind: 'file', path: 'init', data: new TextEncoder().encode('#!/bin/sh\n'), mode: 0o755 },
      { kind: 'file', path: 'a/odd-size', data: Uint8Array.of(1, 2, 3) },
      { kind: 'symlink', path: 'bin', target: 'usr/bin' },
    ];
    const back = readNewc(writeCpio(entries));
    expect(back.map((e) => e.name)).toEqual(['dev', 'dev/console', 'init', 'a/odd-size', 'bin']);
    expect(back[0]?.mode).toBe(0o040755);
    expect(back[1]?.mode).toBe(0o020600);
    expect(back[1]?.rdev).toEqual([5, 1]);
    expect(back[2]?.mode).toBe(0o100755);
    expect(new TextDecoder().decode(back[2]?.data)).toBe('#!/bin/sh\n');
    expect([...(back[3]?.data ?? [])]).toEqual([1, 2, 3]);
    expect(back[4]?.mode).toBe(0o120777);
    expect(new TextDecoder().decode(back[4]?.data)).toBe('usr/bin');
  });

  it('aligns every header and body to 4 bytes for all name and data lengths', () => {
    for (let n = 1; n <= 8; n++) {
      for (let d = 0; d <= 8; d++) {
        const entries: CpioEntry[] = [
          { kind: 'file', path: 'x'.repeat(n), data: new Uint8Array(d).fill(0xaa) },
        ];
        const bytes = writeCpio(entries);
        expect(bytes.length % 4).toBe(0);
        expect(readNewc(bytes)[0]?.data.length).toBe(d);
      }
    }
  });

  it('rejects absolute paths', () => {
    expect(() => writeCpio([{ kind: 'dir', path: '/etc' }])).toThrow(RangeError);
  });
});
