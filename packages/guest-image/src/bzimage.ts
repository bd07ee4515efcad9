/**
 * Locating the compressed kernel inside an x86 bzImage (kernel docs:
 * Documentation/arch/x86/boot.rst, "The Real-Mode Kernel Header": setup_sects at 0x1F1,
 * header magic "HdrS" at 0x202, payload_offset/payload_length at 0x248/0x24C, protocol ≥ 2.08).
 * Pure: bytes in, a view of the payload out. Decompression is the caller's job.
 */
import { GuestImageError } from './errors.ts';

/** The compressed payload of a bzImage and its detected format. */
export interface BzImagePayload {
  format: 'xz' | 'gzip' | 'zstd' | 'lzma' | 'lz4' | 'bzip2' | 'lzo' | 'unknown';
  /** The payload bytes (may end with a 4-byte uncompressed-size trailer). */
  bytes: Uint8Array;
}

const MAGICS: [BzImagePayload['format'], number[]][] = [
  ['xz', [0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]],
  ['gzip', [0x1f, 0x8b]],
  ['zstd', [0x28, 0xb5, 0x2f, 0xfd]],
  ['lzma', [0x5d, 0x00, 0x00]],
  ['bzip2', [0x42, 0x5a, 0x68]],
  ['lzo', [0x89, 0x4c, 0x5a, 0x4f]],
  ['lz4', [0x02, 0x21, 0x4c, 0x18]],
];

/**
 * Finds the compressed vmlinux in a bzImage using the boot-protocol header.
 * @throws GuestImageError GUEST_BAD_FORMAT if the header is absent, too old (< 2.08) or out of bounds.
 */
export function bzImagePayload(image: Uint8Array): BzImagePayload {
  if (image.length < 0x250)
    throw new GuestImageError('GUEST_BAD_FORMAT', 'bzImage: file too short');
  const view = new DataView(image.buffer, image.byteOffset, image.byteLength);
  // boot.rst: 0x202 header = "HdrS" (0x53726448 LE); 0x206 version.
  if (view.getUint32(0x202, true) !== 0x53726448) {
    throw new GuestImageError('GUEST_BAD_FORMAT', 'bzImage: no "HdrS" boot header');
  }
  const version = view.getUint16(0x206, true);
  if (version < 0x0208)
    throw new GuestImageError(
      'GUEST_BAD_FORMAT',
      `bzImage: boot protocol ${version.toString(16)} < 2.08`,
    );
  // boot.rst: "If setup_sects is 0, the real value is 4."
  const setupSects = image[0x1f1] || 4;
  const protectedModeStart = (setupSects + 1) * 512;
  const payloadOffset = view.getUint32(0x248, true);
  const payloadLength = view.getUint32(0x24c, true);
  const start = protectedModeStart + payloadOffset;
  if (start + payloadLength > image.length || payloadLength === 0) {
    throw new GuestImageError('GUEST_BAD_FORMAT', 'bzImage: payload outside the file');
  }
  const bytes = image.subarray(start, start + payloadLength);
  const format = MAGICS.find(([, m]) => m.every((b, i) => bytes[i] === b))?.[0] ?? 'unknown';
  return { format, bytes };
}
