/**
 * Minimal ELF64 little-endian reader: what the image builder needs to follow shared-library
 * dependencies (DT_NEEDED, PT_INTERP) and kernel module dependencies (`.modinfo`).
 * References: System V gABI "Object Files" (ELF header, section header table, dynamic
 * section, program header table). Pure: bytes in, values out.
 */
import { GuestImageError } from './errors.ts';

/** What the builder reads from one ELF file. */
export interface ElfInfo {
  /** DT_NEEDED entries, in file order (sonames such as `libc.so.6`). */
  needed: string[];
  /** The PT_INTERP path (program interpreter), or null for libraries/static binaries. */
  interpreter: string | null;
  /** Section names with their raw bytes, for the sections asked for. */
  sections: Map<string, Uint8Array>;
}

const ELF_MAGIC = [0x7f, 0x45, 0x4c, 0x46];
const SHT_DYNAMIC = 6;
const PT_INTERP = 3;
const DT_NULL = 0;
const DT_NEEDED = 1;

const decoder = new TextDecoder();

function cString(bytes: Uint8Array, offset: number): string {
  let end = offset;
  while (end < bytes.length && bytes[end] !== 0) end++;
  return decoder.decode(bytes.subarray(offset, end));
}

function bad(what: string): GuestImageError {
  return new GuestImageError('GUEST_BAD_FORMAT', `ELF: ${what}`);
}

/** True if the bytes start with the ELF magic. */
export function isElf(bytes: Uint8Array): boolean {
  return ELF_MAGIC.every((b, i) => bytes[i] === b);
}

/** Bounds-checked little-endian reads over the file. */
class ElfBytes {
  readonly bytes: Uint8Array;
  readonly #view: DataView;

  constructor(bytes: Uint8Array) {
    this.bytes = bytes;
    this.#view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  u16(o: number): number {
    return this.#view.getUint16(o, true);
  }

  u32(o: number): number {
    return this.#view.getUint32(o, true);
  }

  u64(o: number): number {
    const v = this.#view.getBigUint64(o, true);
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw bad('offset too large');
    return Number(v);
  }

  slice(off: number, size: number): Uint8Array {
    if (off < 0 || size < 0 || off + size > this.bytes.length) throw bad('range outside the file');
    return this.bytes.subarray(off, off + size);
  }
}

interface Section {
  name: number;
  type: number;
  offset: number;
  size: number;
  link: number;
}

/**
 * Parses an ELF64 LSB file (gABI: e_ident[EI_CLASS] = ELFCLASS64, [EI_DATA] = ELFDATA2LSB).
 * @param wantSections names of sections whose contents to return (e.g. `.modinfo`).
 * @throws GuestImageError GUEST_BAD_FORMAT on anything malformed or out of bounds.
 */
export function readElf(bytes: Uint8Array, wantSections: readonly string[] = []): ElfInfo {
  if (bytes.length < 64 || !isElf(bytes)) throw bad('not an ELF file');
  if (bytes[4] !== 2 || bytes[5] !== 1) throw bad('only ELF64 little-endian is supported');
  const elf = new ElfBytes(bytes);
  const interpreter = interpreterOf(elf);
  const sections = sectionHeaders(elf);
  const content = (s: Section): Uint8Array =>
    s.type === 8 /* SHT_NOBITS */ ? new Uint8Array(0) : elf.slice(s.offset, s.size);
  const needed = sections.flatMap((s) =>
    s.type === SHT_DYNAMIC ? neededIn(content(s), sections[s.link], content) : [],
  );
  const found = new Map<string, Uint8Array>();
  if (wantSections.length > 0) {
    const names = sections[elf.u16(0x3e) /* e_shstrndx */];
    if (names === undefined) throw bad('no section name table');
    const nameBytes = content(names);
    for (const s of sections) {
      const name = cString(nameBytes, s.name);
      if (wantSections.includes(name)) found.set(name, content(s));
    }
  }
  return { needed, interpreter, sections: found };
}

/** The PT_INTERP path from the program header table, or null. */
function interpreterOf(elf: ElfBytes): string | null {
  const phoff = elf.u64(0x20);
  const phentsize = elf.u16(0x36);
  const phnum = elf.u16(0x38);
  let interpreter: string | null = null;
  for (let i = 0; i < phnum; i++) {
    const ph = phoff + i * phentsize;
    elf.slice(ph, 56);
    if (elf.u32(ph) === PT_INTERP) {
      interpreter = cString(elf.slice(elf.u64(ph + 8), elf.u64(ph + 32)), 0);
    }
  }
  return interpreter;
}

/** The section header table. */
function sectionHeaders(elf: ElfBytes): Section[] {
  const shoff = elf.u64(0x28);
  const shentsize = elf.u16(0x3a);
  const shnum = elf.u16(0x3c);
  const sections: Section[] = [];
  for (let i = 0; i < shnum; i++) {
    const sh = shoff + i * shentsize;
    elf.slice(sh, 64);
    sections.push({
      name: elf.u32(sh),
      type: elf.u32(sh + 4),
      offset: elf.u64(sh + 0x18),
      size: elf.u64(sh + 0x20),
      link: elf.u32(sh + 0x28),
    });
  }
  return sections;
}

/** DT_NEEDED sonames of one dynamic section, read from its linked string table. */
function neededIn(
  dyn: Uint8Array,
  strtab: Section | undefined,
  content: (s: Section) => Uint8Array,
): string[] {
  if (strtab === undefined) throw bad('dynamic section without string table');
  const strs = content(strtab);
  const dv = new DataView(dyn.buffer, dyn.byteOffset, dyn.byteLength);
  const needed: string[] = [];
  for (let o = 0; o + 16 <= dyn.length; o += 16) {
    const tag = Number(dv.getBigInt64(o, true));
    if (tag === DT_NULL) break;
    if (tag === DT_NEEDED) {
      const at = Number(dv.getBigUint64(o + 8, true));
      if (at >= strs.length) throw bad('DT_NEEDED outside the string table');
      needed.push(cString(strs, at));
    }
  }
  return needed;
}

/**
 * Reads a kernel module's `.modinfo` (NUL-separated `key=value` strings, see the kernel's
 * include/linux/moduleparam.h `__MODULE_INFO`) and returns the `depends=` module names.
 */
export function moduleDepends(ko: Uint8Array): string[] {
  const info = readElf(ko, ['.modinfo']).sections.get('.modinfo');
  if (info === undefined) throw bad('kernel module without .modinfo');
  for (const entry of decoder.decode(info).split('\0')) {
    if (entry.startsWith('depends=')) {
      return entry
        .slice('depends='.length)
        .split(',')
        .filter((d) => d !== '');
    }
  }
  return [];
}
