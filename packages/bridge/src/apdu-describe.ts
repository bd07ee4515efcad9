/**
 * Naming and length parsing of command APDUs for the live APDU view, and the rule that
 * decides which commands carry PIN data (issue 4: "PIN data is never shown or kept").
 *
 * References: ISO/IEC 7816-4:2020 §5.1 (command-response pairs, the four cases, short and
 * extended length fields), §5.4.1 (class byte), table 4 (interindustry INS codes).
 */

/** What {@link describeApdu} tells about one command APDU. */
export interface ApduDescription {
  /** Command name from ISO 7816-4 table 4, e.g. `SELECT`; `INS xx` when unknown, `MALFORMED` below 4 bytes. */
  name: string;
  /** True when the data field may hold a PIN, PUK or other reference data (never log it). */
  isSensitive: boolean;
  /** Nc: length of the command data field in bytes (0 when absent). */
  lc: number;
  /** Ne: maximum expected response data length in bytes (`null` when Le is absent); Le `00` = 256, `0000` = 65536. */
  le: number | null;
  /** ISO 7816-4 §5.1 case (1–4) and whether the length fields are extended; `null` when the lengths are inconsistent. */
  case: ApduCase | null;
  /** The class byte marks a proprietary class (§5.4.1: CLA b8 = 1, except `FF`). Names follow the ISO table anyway. */
  isProprietaryClass: boolean;
}

/** An ISO 7816-4 §5.1 case and its length form (one frozen object per combination, shared). */
type ApduCase = Readonly<{ number: 1 | 2 | 3 | 4; isExtended: boolean }>;

const CASES: readonly (readonly [ApduCase, ApduCase])[] = ([1, 2, 3, 4] as const).map(
  (number) =>
    [
      Object.freeze({ number, isExtended: false }),
      Object.freeze({ number, isExtended: true }),
    ] as const,
);

/** The shared description of case `number` (1–4) in the short or extended form. */
function caseOf(number: 1 | 2 | 3 | 4, isExtended: boolean): ApduCase {
  return CASES[number - 1]![isExtended ? 1 : 0];
}

/** ISO 7816-4 table 4 (even and odd INS of the same command share a name). */
const INS_NAMES: Readonly<Record<number, string>> = {
  0x04: 'DEACTIVATE FILE',
  0x0c: 'ERASE RECORD',
  0x0e: 'ERASE BINARY',
  0x0f: 'ERASE BINARY',
  0x10: 'PERFORM SCQL OPERATION',
  0x12: 'PERFORM TRANSACTION OPERATION',
  0x14: 'PERFORM USER OPERATION',
  0x20: 'VERIFY',
  0x21: 'VERIFY',
  0x22: 'MANAGE SECURITY ENVIRONMENT',
  0x24: 'CHANGE REFERENCE DATA',
  0x25: 'CHANGE REFERENCE DATA',
  0x26: 'DISABLE VERIFICATION REQUIREMENT',
  0x28: 'ENABLE VERIFICATION REQUIREMENT',
  0x2a: 'PSO',
  0x2c: 'RESET RETRY COUNTER',
  0x2d: 'RESET RETRY COUNTER',
  0x44: 'ACTIVATE FILE',
  0x46: 'GENERATE ASYMMETRIC KEY PAIR',
  0x47: 'GENERATE ASYMMETRIC KEY PAIR',
  0x70: 'MANAGE CHANNEL',
  0x82: 'EXTERNAL AUTHENTICATE',
  0x84: 'GET CHALLENGE',
  0x86: 'GENERAL AUTHENTICATE',
  0x87: 'GENERAL AUTHENTICATE',
  0x88: 'INTERNAL AUTHENTICATE',
  0xa0: 'SEARCH BINARY',
  0xa1: 'SEARCH BINARY',
  0xa2: 'SEARCH RECORD',
  0xa4: 'SELECT',
  0xb0: 'READ BINARY',
  0xb1: 'READ BINARY',
  0xb2: 'READ RECORD',
  0xb3: 'READ RECORD',
  0xc0: 'GET RESPONSE',
  0xc2: 'ENVELOPE',
  0xc3: 'ENVELOPE',
  0xca: 'GET DATA',
  0xcb: 'GET DATA',
  0xd0: 'WRITE BINARY',
  0xd1: 'WRITE BINARY',
  0xd2: 'WRITE RECORD',
  0xd6: 'UPDATE BINARY',
  0xd7: 'UPDATE BINARY',
  0xda: 'PUT DATA',
  0xdb: 'PUT DATA',
  0xdc: 'UPDATE RECORD',
  0xdd: 'UPDATE RECORD',
  0xe0: 'CREATE FILE',
  0xe2: 'APPEND RECORD',
  0xe4: 'DELETE FILE',
  0xe6: 'TERMINATE DF',
  0xe8: 'TERMINATE EF',
  0xfe: 'TERMINATE CARD USAGE',
};

/**
 * INS codes whose data field carries verification data (PIN, PUK, resetting code) in
 * ISO 7816-4 §11.5: VERIFY, CHANGE REFERENCE DATA, ENABLE/DISABLE VERIFICATION
 * REQUIREMENT, RESET RETRY COUNTER. Matched whatever the class byte says, so a
 * proprietary-class variant is redacted too (better one redaction too many).
 */
const SENSITIVE_INS: ReadonlySet<number> = new Set([
  0x20, 0x21, 0x24, 0x25, 0x26, 0x28, 0x2c, 0x2d,
]);

/**
 * Names a command APDU and reads its length fields. Total: never throws, whatever the
 * bytes (a guest may send anything).
 *
 * Besides the ISO commands of {@link SENSITIVE_INS}, two well-known PIN-like writes are
 * sensitive: OpenPGP card PUT DATA of the resetting code (`00 DA 00 D3`, OpenPGP card
 * spec 3.4 §7.2.8) and the YubiKey PIV SET MANAGEMENT KEY (`INS FF P1 FF`).
 */
export function describeApdu(cmd: Uint8Array): ApduDescription {
  if (cmd.length < 4) {
    return {
      name: 'MALFORMED',
      isSensitive: false,
      lc: 0,
      le: null,
      case: null,
      isProprietaryClass: false,
    };
  }
  const cla = cmd[0] ?? 0;
  const ins = cmd[1] ?? 0;
  const p1 = cmd[2] ?? 0;
  const p2 = cmd[3] ?? 0;
  const isProprietaryClass = (cla & 0x80) !== 0 && cla !== 0xff;
  const name = INS_NAMES[ins] ?? `INS ${hexByte(ins)}`;
  const isSensitive =
    SENSITIVE_INS.has(ins) ||
    ((ins === 0xda || ins === 0xdb) && p1 === 0x00 && p2 === 0xd3) ||
    (ins === 0xff && p1 === 0xff);
  // One object, filled in by readLengths (this runs for every guest command).
  const d: ApduDescription = { name, isSensitive, isProprietaryClass, lc: 0, le: null, case: null };
  readLengths(cmd, d);
  return d;
}

/** True when the command's data field must never be shown or kept (see {@link describeApdu}). */
export function isSensitiveApdu(cmd: Uint8Array): boolean {
  return describeApdu(cmd).isSensitive;
}

/** ISO 7816-4 §5.1: the body after the 4-byte header decides the case; sets `d`'s lengths. */
function readLengths(cmd: Uint8Array, d: ApduDescription): void {
  const bodyLength = cmd.length - 4;
  if (bodyLength === 0) return setLengths(d, 0, null, caseOf(1, false));
  const b0 = cmd[4] ?? 0;
  if (bodyLength === 1) return setLengths(d, 0, b0 === 0 ? 256 : b0, caseOf(2, false));
  if (b0 !== 0) {
    // Short Lc (1 byte, 1..255).
    if (bodyLength === 1 + b0) return setLengths(d, b0, null, caseOf(3, false));
    if (bodyLength === 2 + b0) {
      const le = cmd[cmd.length - 1] ?? 0;
      return setLengths(d, b0, le === 0 ? 256 : le, caseOf(4, false));
    }
    return inconsistent(d, bodyLength);
  }
  // b0 = 00 with more bytes: extended length fields (§5.1, "extended length").
  if (bodyLength === 3) {
    const le = ((cmd[5] ?? 0) << 8) | (cmd[6] ?? 0);
    return setLengths(d, 0, le === 0 ? 65536 : le, caseOf(2, true));
  }
  if (bodyLength < 3) return inconsistent(d, bodyLength);
  const lc = ((cmd[5] ?? 0) << 8) | (cmd[6] ?? 0);
  if (lc !== 0 && bodyLength === 3 + lc) return setLengths(d, lc, null, caseOf(3, true));
  if (lc !== 0 && bodyLength === 5 + lc) {
    const le = ((cmd[cmd.length - 2] ?? 0) << 8) | (cmd[cmd.length - 1] ?? 0);
    return setLengths(d, lc, le === 0 ? 65536 : le, caseOf(4, true));
  }
  return inconsistent(d, bodyLength);
}

function setLengths(d: ApduDescription, lc: number, le: number | null, c: ApduCase): void {
  d.lc = lc;
  d.le = le;
  d.case = c;
}

/** Length fields that match no case: report the body as data so the view still shows a size. */
function inconsistent(d: ApduDescription, bodyLength: number): void {
  d.lc = Math.max(0, bodyLength - 1);
  d.le = null;
  d.case = null;
}

function hexByte(b: number): string {
  return b.toString(16).toUpperCase().padStart(2, '0');
}
