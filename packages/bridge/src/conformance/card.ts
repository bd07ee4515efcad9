/**
 * The card application every conformance harness puts in its slot, and the commands the suite
 * sends to it. Pure: one command APDU in, the response APDU (data + SW1 SW2) out.
 *
 * - ECHO `80 30 00 00 Lc data [Le]`: the data back, then `90 00`.
 * - STATUS `80 40 P1 P2`: no data, status word `P1 P2` (so any status word can be asked for).
 * - anything else: `6D 00` (instruction not supported).
 *
 * Over T=0 the reader's transport may hand the application a case-4 ECHO without its Le
 * (ISO 7816-3 §12.2.3); the answer is the same.
 */

const CLA = 0x80;
const INS_ECHO = 0x30;
const INS_STATUS = 0x40;

/** The conformance card's answer to `apdu` (see the module comment). */
export function conformanceCardAnswer(apdu: Uint8Array): Uint8Array {
  if (apdu.length < 4 || apdu[0] !== CLA) return Uint8Array.of(0x6d, 0x00);
  if (apdu[1] === INS_STATUS) return Uint8Array.of(apdu[2] ?? 0, apdu[3] ?? 0);
  if (apdu[1] !== INS_ECHO || apdu.length < 6) return Uint8Array.of(0x6d, 0x00);
  const lc = apdu[4] ?? 0;
  const data = apdu.subarray(5, 5 + lc);
  const out = new Uint8Array(data.length + 2);
  out.set(data, 0);
  out[data.length] = 0x90;
  out[data.length + 1] = 0x00;
  return out;
}

/** ECHO of `data` (1..255 bytes, short APDU, case 4 with Le = 00). */
export function echoCommand(data: Uint8Array): Uint8Array {
  if (data.length < 1 || data.length > 255) throw new RangeError('ECHO data must be 1..255 bytes');
  const cmd = new Uint8Array(data.length + 6);
  cmd.set([CLA, INS_ECHO, 0x00, 0x00, data.length], 0);
  cmd.set(data, 5);
  cmd[cmd.length - 1] = 0x00;
  return cmd;
}

/** STATUS asking the card to answer with status word `sw` and no data (case 1). */
export function statusCommand(sw: number): Uint8Array {
  return Uint8Array.of(CLA, INS_STATUS, (sw >> 8) & 0xff, sw & 0xff);
}

/** `n` bytes of a pattern that differs per `seed`, for telling answers apart. */
export function pattern(n: number, seed: number): Uint8Array {
  return Uint8Array.from({ length: n }, (_, i) => (i * 31 + seed * 7 + 1) & 0xff);
}
