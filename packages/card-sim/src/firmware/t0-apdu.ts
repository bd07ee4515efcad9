/**
 * An APDU-level reader talking to its card: T=1 cards get the APDU as it is; for T=0 cards the
 * reader builds TPDUs itself and, unless the profile passes them through, answers 61xx with
 * GET RESPONSE and 6Cxx with the command re-issued (ISO 7816-3 §12.2).
 */
import { parseCommandApdu, type CommandApdu } from '../apdu.ts';
import { concatBytes } from '../bytes.ts';
import type { T0CardEngine } from '../t0-card.ts';
import type { ReaderCaps } from './caps.ts';
import type { Slot } from './slot.ts';

const WRONG_LENGTH = (): Uint8Array => Uint8Array.of(0x67, 0x00);

/** Sends `apdu` to the card in `s` (present and powered) and returns its whole response APDU. */
export async function apduToCard(caps: ReaderCaps, s: Slot, apdu: Uint8Array): Promise<Uint8Array> {
  const card = s.card!;
  if (s.cardProtocol === 1) return card.process(apdu);
  const cmd = parseCommandApdu(apdu);
  if (!cmd) return WRONG_LENGTH();
  if (cmd.isExtended) return WRONG_LENGTH(); // no ENVELOPE support in the simulated firmware
  const header = apdu.subarray(0, 4);
  let tpdu: Uint8Array;
  if (cmd.case === 1) tpdu = concatBytes(header, Uint8Array.of(0));
  else if (cmd.case === 2) tpdu = apdu.slice(0, 5);
  else tpdu = concatBytes(header, Uint8Array.of(cmd.data.length), cmd.data);
  const out = await s.t0!.exchange(tpdu);
  if (out.kind !== 'ok') return WRONG_LENGTH();
  if (caps.profile.apduT0Handling === 'passthrough') return out.response;
  return collectT0Response(s, s.t0!, cmd, header, out.response);
}

/** Follows 6Cxx and 61xx until the card's final status word or until Ne bytes are collected. */
async function collectT0Response(
  s: Slot,
  t0: T0CardEngine,
  cmd: CommandApdu,
  header: Uint8Array,
  first: Uint8Array,
): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  let collected = 0;
  let r = first;
  for (let guard = 0; guard < 600; guard++) {
    const sw1 = r[r.length - 2] ?? 0;
    const sw2 = r[r.length - 1] ?? 0;
    let next: Uint8Array;
    if (sw1 === 0x6c && cmd.case === 2) {
      next = concatBytes(header, Uint8Array.of(sw2));
    } else if (sw1 === 0x61 && (cmd.ne !== null || parts.length > 0 || cmd.case === 2)) {
      const data = r.subarray(0, r.length - 2);
      parts.push(data);
      collected += data.length;
      if (cmd.ne !== null && collected >= cmd.ne) {
        // Ne satisfied: the host gets the data and the card's 61xx (more available).
        parts.push(r.subarray(r.length - 2));
        break;
      }
      const avail = sw2 === 0 ? 256 : sw2;
      const want = cmd.ne === null ? avail : Math.min(avail, cmd.ne - collected);
      const cla = s.classGetResponse === 0xff ? cmd.cla : s.classGetResponse;
      next = Uint8Array.of(cla, 0xc0, 0x00, 0x00, want === 256 ? 0 : want);
    } else {
      parts.push(r);
      break;
    }
    const out = await t0.exchange(next);
    if (out.kind !== 'ok') return WRONG_LENGTH();
    r = out.response;
  }
  return concatBytes(...parts);
}
