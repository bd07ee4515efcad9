/**
 * VSCard wire constants (vscard-protocol.md §2.2, §2.3, §2.6). Names follow
 * `freedesktop/spice-libcacard:src/vscard_common.h`.
 */

/** Message type numbers of the current protocol (version 0.0.2), §2.3. */
export const VSC = {
  Init: 1,
  Error: 2,
  ReaderAdd: 3,
  ReaderRemove: 4,
  ATR: 5,
  CardRemove: 6,
  APDU: 7,
  Flush: 8,
  FlushComplete: 9,
} as const;

/** Message type numbers of the 2010 draft (version 0.0.1), §2.6. Types 4–7 coincide with {@link VSC}. */
export const VSC_DRAFT2010 = {
  Init: 0,
  Error: 1,
  ReaderAdd: 2,
  ReaderAddResponse: 3,
  ReaderRemove: 4,
  ATR: 5,
  CardRemove: 6,
  APDU: 7,
  Reconnect: 8,
} as const;

/** `VSC_Error` codes, §2.4. */
export const VSC_ERROR_CODE = {
  VSC_SUCCESS: 0,
  VSC_GENERAL_ERROR: 1,
  VSC_CANNOT_ADD_MORE_READERS: 2,
  /** Spelled as in the header (sic). */
  VSC_CARD_ALREAY_INSERTED: 3,
} as const;

/** Header size in bytes: type, reader_id, length, each uint32 big-endian (§2.1). */
export const VSCARD_HEADER_BYTES = 12;
/** Largest payload QEMU can process: its 64 KiB input buffer minus the header (§5, vector s14). */
export const VSCARD_MAX_PAYLOAD_BYTES = 65524;
/** Largest client APDU answer QEMU 7.2 delivers to the guest: 384-byte bulk-in buffer − 10 (§4, g02). */
export const VSCARD_MAX_GUEST_ANSWER_BYTES = 374;
/**
 * Largest guest command QEMU can forward (host→client APDU payload): usb-ccid's 64 KiB bulk-out
 * buffer (`BULK_OUT_DATA_SIZE` 65536 in `qemu/qemu:hw/usb/dev-smartcard-reader.c`) minus the
 * 10-byte XfrBlock header. It exceeds {@link VSCARD_MAX_PAYLOAD_BYTES} by 2: a framer reading
 * QEMU's stream may use it as `maxPayloadBytes` to accept even the largest guest command.
 */
export const VSCARD_MAX_GUEST_COMMAND_BYTES = 65526;
/** The only reader id QEMU uses (§2.2). */
export const VSC_MINIMAL_READER_ID = 0;
/** "No reader yet" id, used by QEMU's Init and spice-gtk's ReaderAdd (§2.2). */
export const VSC_UNDEFINED_READER_ID = 0xffffffff;
/** `VSCARD_VERSION` of the current protocol: MAKE_VERSION(0,0,2) (§2.2). */
export const VSCARD_VERSION = 2;
/** `VSCARD_VERSION` of the 2010 draft: MAKE_VERSION(0,0,1) (§2.6). */
export const VSCARD_DRAFT2010_VERSION = 1;
/** The Init magic, the literal bytes "VSCD" in both directions (§2.2, §2.5). */
export const VSCARD_MAGIC: Readonly<Uint8Array> = Uint8Array.of(0x56, 0x53, 0x43, 0x44);

/** Split a version word into major (11 bits), middle (11 bits), minor (10 bits) (§2.2). */
export function splitVersion(version: number): { major: number; middle: number; minor: number } {
  return { major: version >>> 21, middle: (version >>> 10) & 0x7ff, minor: version & 0x3ff };
}
