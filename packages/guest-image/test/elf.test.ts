import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { bzImagePayload } from '../src/bzimage.ts';
import { moduleDepends, readElf } from '../src/elf.ts';
import { isGuestImageError } from '../src/errors.ts';

describe('readElf', () => {
  it('reads DT_NEEDED and PT_INTERP of a real dynamic executable', () => {
    const info = readElf(readFileSync('/bin/ls'));
    expect(info.needed).toContain('libc.so.6');
    expect(info.interpreter).toMatch(/ld-linux-x86-64\.so\.2$/);
  });

  it('returns named sections', () => {
    const info = readElf(readFileSync('/bin/ls'), ['.interp']);
    expect(new TextDecoder().decode(info.sections.get('.interp'))).toMatch(/ld-linux/);
  });

  it('turns any bytes into an ElfInfo or a GUEST_BAD_FORMAT error, never another exception', () => {
    const head = readFileSync('/bin/ls').subarray(0, 64);
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 512 }), fc.boolean(), (tail, keepHeader) => {
        const bytes = keepHeader ? Uint8Array.from([...head, ...tail]) : tail;
        try {
          readElf(bytes, ['.modinfo']);
        } catch (e) {
          expect(isGuestImageError(e) && e.code === 'GUEST_BAD_FORMAT').toBe(true);
        }
      }),
      { numRuns: 300 },
    );
  });
});

/** A minimal ELF64 relocatable file with a `.modinfo` section, built from spec fields. */
function fakeModule(modinfo: string): Uint8Array {
  const info = new TextEncoder().encode(modinfo);
  const shstr = new TextEncoder().encode('\0.modinfo\0.shstrtab\0');
  const infoOff = 64;
  const strOff = infoOff + info.length;
  const shOff = (strOff + shstr.length + 7) & ~7;
  const bytes = new Uint8Array(shOff + 3 * 64);
  const v = new DataView(bytes.buffer);
  bytes.set([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1]);
  v.setBigUint64(0x28, BigInt(shOff), true);
  v.setUint16(0x3a, 64, true);
  v.setUint16(0x3c, 3, true);
  v.setUint16(0x3e, 2, true);
  bytes.set(info, infoOff);
  bytes.set(shstr, strOff);
  const section = (i: number, name: number, type: number, off: number, size: number): void => {
    const o = shOff + i * 64;
    v.setUint32(o, name, true);
    v.setUint32(o + 4, type, true);
    v.setBigUint64(o + 0x18, BigInt(off), true);
    v.setBigUint64(o + 0x20, BigInt(size), true);
  };
  section(1, 1, 1, infoOff, info.length);
  section(2, 10, 3, strOff, shstr.length);
  return bytes;
}

describe('moduleDepends', () => {
  it('reads depends= from .modinfo', () => {
    expect(
      moduleDepends(fakeModule('license=GPL\0depends=xhci-hcd,usbcore\0name=xhci_pci\0')),
    ).toEqual(['xhci-hcd', 'usbcore']);
  });
  it('returns [] for an empty depends=', () => {
    expect(moduleDepends(fakeModule('depends=\0name=usb_common\0'))).toEqual([]);
  });
});

describe('bzImagePayload', () => {
  it('finds the payload through setup_sects and payload_offset (boot.rst)', () => {
    const img = new Uint8Array(4096);
    const v = new DataView(img.buffer);
    img[0x1f1] = 3; // 4 sectors of setup + boot sector → protected-mode code at 2048
    v.setUint32(0x202, 0x53726448, true);
    v.setUint16(0x206, 0x020f, true);
    v.setUint32(0x248, 100, true);
    v.setUint32(0x24c, 10, true);
    img.set([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00], 2048 + 100);
    const p = bzImagePayload(img);
    expect(p.format).toBe('xz');
    expect(p.bytes.length).toBe(10);
  });
  it('rejects files without the HdrS header', () => {
    expect(() => bzImagePayload(new Uint8Array(4096))).toThrow(
      expect.objectContaining({ code: 'GUEST_BAD_FORMAT' }),
    );
  });
});
