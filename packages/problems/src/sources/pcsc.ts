/**
 * PC/SC return codes (pcsc-lite `pcsclite.h`, WinSCard `winerror.h`) → problem, by their
 * standard name, with their numeric value so a binding that reports numbers can be mapped
 * too. A PC/SC reader keeps its original code as the failure's source (`{ kind: 'pcsc' }`),
 * so the words fit what the operating system's smart card service said.
 */
import type { ProblemId } from '../catalog/index.ts';

/** Name → [value, problem]. Codes that never arise while lending a card map to `unexpected`. */
export const PCSC_PROBLEMS = {
  SCARD_F_INTERNAL_ERROR: [0x80100001, 'reader-error'],
  SCARD_E_CANCELLED: [0x80100002, 'unexpected'],
  SCARD_E_INVALID_HANDLE: [0x80100003, 'reader-error'],
  SCARD_E_INVALID_PARAMETER: [0x80100004, 'unexpected'],
  SCARD_E_INVALID_TARGET: [0x80100005, 'unexpected'],
  SCARD_E_NO_MEMORY: [0x80100006, 'unexpected'],
  SCARD_F_WAITED_TOO_LONG: [0x80100007, 'reader-error'],
  // The guest's command or the card's answer does not fit the buffer the reader allows.
  SCARD_E_INSUFFICIENT_BUFFER: [0x80100008, 'reader-unsupported'],
  SCARD_E_UNKNOWN_READER: [0x80100009, 'reader-not-found'],
  SCARD_E_TIMEOUT: [0x8010000a, 'reader-error'],
  SCARD_E_SHARING_VIOLATION: [0x8010000b, 'reader-in-use'],
  SCARD_E_NO_SMARTCARD: [0x8010000c, 'card-absent'],
  SCARD_E_UNKNOWN_CARD: [0x8010000d, 'card-unreadable'],
  SCARD_E_CANT_DISPOSE: [0x8010000e, 'reader-error'],
  SCARD_E_PROTO_MISMATCH: [0x8010000f, 'card-unreadable'],
  SCARD_E_NOT_READY: [0x80100010, 'reader-error'],
  SCARD_E_INVALID_VALUE: [0x80100011, 'unexpected'],
  SCARD_E_SYSTEM_CANCELLED: [0x80100012, 'unexpected'],
  // pcsc-lite: the client lost its connection to pcscd (the daemon stopped or crashed).
  SCARD_F_COMM_ERROR: [0x80100013, 'service-down'],
  SCARD_F_UNKNOWN_ERROR: [0x80100014, 'reader-error'],
  SCARD_E_INVALID_ATR: [0x80100015, 'card-unreadable'],
  SCARD_E_NOT_TRANSACTED: [0x80100016, 'reader-error'],
  SCARD_E_READER_UNAVAILABLE: [0x80100017, 'reader-gone'],
  SCARD_P_SHUTDOWN: [0x80100018, 'service-down'],
  SCARD_E_PCI_TOO_SMALL: [0x80100019, 'unexpected'],
  SCARD_E_READER_UNSUPPORTED: [0x8010001a, 'reader-unsupported'],
  SCARD_E_DUPLICATE_READER: [0x8010001b, 'reader-error'],
  SCARD_E_CARD_UNSUPPORTED: [0x8010001c, 'card-unreadable'],
  SCARD_E_NO_SERVICE: [0x8010001d, 'service-down'],
  SCARD_E_SERVICE_STOPPED: [0x8010001e, 'service-down'],
  SCARD_E_UNEXPECTED: [0x8010001f, 'unexpected'],
  SCARD_E_ICC_INSTALLATION: [0x80100020, 'unexpected'],
  SCARD_E_ICC_CREATEORDER: [0x80100021, 'unexpected'],
  // WinSCard's value; pcsc-lite reuses 0x8010001F (SCARD_E_UNEXPECTED) for it.
  SCARD_E_UNSUPPORTED_FEATURE: [0x80100022, 'reader-unsupported'],
  SCARD_E_DIR_NOT_FOUND: [0x80100023, 'unexpected'],
  SCARD_E_FILE_NOT_FOUND: [0x80100024, 'unexpected'],
  SCARD_E_NO_DIR: [0x80100025, 'unexpected'],
  SCARD_E_NO_FILE: [0x80100026, 'unexpected'],
  SCARD_E_NO_ACCESS: [0x80100027, 'service-refused'],
  SCARD_E_WRITE_TOO_MANY: [0x80100028, 'unexpected'],
  SCARD_E_BAD_SEEK: [0x80100029, 'unexpected'],
  SCARD_E_INVALID_CHV: [0x8010002a, 'unexpected'],
  SCARD_E_UNKNOWN_RES_MNG: [0x8010002b, 'unexpected'],
  SCARD_E_NO_SUCH_CERTIFICATE: [0x8010002c, 'unexpected'],
  SCARD_E_CERTIFICATE_UNAVAILABLE: [0x8010002d, 'unexpected'],
  SCARD_E_NO_READERS_AVAILABLE: [0x8010002e, 'no-readers'],
  SCARD_E_COMM_DATA_LOST: [0x8010002f, 'reader-error'],
  SCARD_E_NO_KEY_CONTAINER: [0x80100030, 'unexpected'],
  SCARD_E_SERVER_TOO_BUSY: [0x80100031, 'reader-error'],
  SCARD_W_UNSUPPORTED_CARD: [0x80100065, 'card-unreadable'],
  SCARD_W_UNRESPONSIVE_CARD: [0x80100066, 'card-mute'],
  // Power was removed from the card (another program's disposition), or it was reset.
  SCARD_W_UNPOWERED_CARD: [0x80100067, 'card-reset'],
  SCARD_W_RESET_CARD: [0x80100068, 'card-reset'],
  SCARD_W_REMOVED_CARD: [0x80100069, 'card-absent'],
  SCARD_W_SECURITY_VIOLATION: [0x8010006a, 'unexpected'],
  SCARD_W_WRONG_CHV: [0x8010006b, 'unexpected'],
  SCARD_W_CHV_BLOCKED: [0x8010006c, 'unexpected'],
  SCARD_W_EOF: [0x8010006d, 'unexpected'],
  SCARD_W_CANCELLED_BY_USER: [0x8010006e, 'unexpected'],
  SCARD_W_CARD_NOT_AUTHENTICATED: [0x8010006f, 'unexpected'],
} as const satisfies Readonly<Record<string, readonly [number, ProblemId]>>;

/** A standard PC/SC return code name this catalog knows. */
export type PcscCodeName = keyof typeof PCSC_PROBLEMS;

const NAME_BY_VALUE: ReadonlyMap<number, PcscCodeName> = new Map(
  (Object.keys(PCSC_PROBLEMS) as PcscCodeName[]).map((name) => [PCSC_PROBLEMS[name][0], name]),
);

/**
 * The standard name of a PC/SC code given by name (`'SCARD_E_NO_SERVICE'`) or value
 * (`0x8010001D`, or its signed 32-bit form `-2146435043`); null when unknown.
 */
export function pcscCodeName(code: string | number): PcscCodeName | null {
  if (typeof code === 'number') return NAME_BY_VALUE.get(code >>> 0) ?? null;
  return Object.hasOwn(PCSC_PROBLEMS, code) ? (code as PcscCodeName) : null;
}
