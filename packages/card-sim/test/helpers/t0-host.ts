/** Test-only T=0 host logic on top of MiniHost: APDU → TPDUs with 61xx / 6Cxx handling. */
import { concatBytes } from '../../src/bytes.ts';
import type { MiniHost } from './mini-host.ts';

export async function transmitT0(host: MiniHost, apdu: Uint8Array): Promise<Uint8Array> {
  // case 4 short → send as case 3 (drop Le)
  const isCase4 = apdu.length > 5 && apdu.length === 6 + apdu[4]!;
  let tpdu = isCase4
    ? apdu.subarray(0, apdu.length - 1)
    : apdu.length === 4
      ? concatBytes(apdu, Uint8Array.of(0))
      : apdu;
  const parts: Uint8Array[] = [];
  for (let i = 0; i < 100; i++) {
    const r = await host.xfr(tpdu);
    if (r.status >> 6 !== 0) throw new Error(`XfrBlock failed bError ${r.error.toString(16)}`);
    const d = r.data;
    const sw1 = d[d.length - 2]!;
    const sw2 = d[d.length - 1]!;
    if (sw1 === 0x61) {
      parts.push(d.subarray(0, d.length - 2));
      tpdu = Uint8Array.of(apdu[0]! & 0x03, 0xc0, 0, 0, sw2);
      continue;
    }
    if (sw1 === 0x6c) {
      tpdu = concatBytes(tpdu.subarray(0, 4), Uint8Array.of(sw2));
      continue;
    }
    parts.push(d);
    return concatBytes(...parts);
  }
  throw new Error('too many GET RESPONSE');
}
