/** PIV commands the tests and the benchmark send (NIST SP 800-73-4 part 2). */
import { buildCommandApdu } from '../../src/apdu.ts';
import { tlv } from '../../src/piv/tlv.ts';

/** GENERAL AUTHENTICATE's dynamic authentication template asking for a signature of `challenge`. */
export const signTemplate = (challenge: Uint8Array): Uint8Array =>
  tlv(0x7c, tlv(0x82), tlv(0x81, challenge));

/** GENERAL AUTHENTICATE (INS 87) in one APDU: key `keyRef` of algorithm `algorithm` signs `challenge`. */
export const signCommand = (
  algorithm: number,
  keyRef: number,
  challenge: Uint8Array,
  ne: number,
): Uint8Array =>
  buildCommandApdu({
    cla: 0,
    ins: 0x87,
    p1: algorithm,
    p2: keyRef,
    data: signTemplate(challenge),
    ne,
  });
