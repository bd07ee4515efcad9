/** Small scripted cards for the bridge tests (ISO 7816-4 behaviour only as far as the tests need). */
import type { ScriptedCard } from './scripted-reader.ts';

/** YubiKey 5 ATR: T=1 only (vscard-protocol.md §2.7). */
export const YUBIKEY_ATR = Uint8Array.from(
  Buffer.from('3BFD1300008131FE158073C021C057597562694B657940', 'hex'),
);
/** A T=0 ATR (libcacard's CAC card), accepted by QEMU 7.2 as is. */
export const CAC_T0_ATR = Uint8Array.from(Buffer.from('3B7A18000073667465206364313434', 'hex'));
/** A valid T=1 ATR that QEMU 7.2's structure check refuses (§3.1, vector s07). */
export const QEMU_REFUSED_ATR = Uint8Array.from(Buffer.from('3B84015653434487', 'hex'));

/**
 * A card with one PIN ('123456' padded with FF to 8 bytes, PIV style) and a large file:
 * SELECT → 9000; VERIFY → 9000 / 63Cx; READ BINARY → `fileLength` bytes (pattern i & 0xFF)
 * + 9000 in one answer (a T=1 card with extended Le does that); GET DATA → 2 bytes; else 6D00.
 */
export function makeCard(
  opts: { atr?: Uint8Array; protocol?: 0 | 1; fileLength?: number } = {},
): ScriptedCard & { tries: number } {
  const pin = Uint8Array.from([0x31, 0x32, 0x33, 0x34, 0x35, 0x36, 0xff, 0xff]);
  const card = {
    atr: opts.atr ?? YUBIKEY_ATR,
    protocol: opts.protocol ?? 1,
    tries: 3,
    process(apdu: Uint8Array): Uint8Array {
      const ins = apdu[1];
      if (ins === 0xa4) return Uint8Array.of(0x90, 0x00);
      if (ins === 0x20) {
        const data = apdu.subarray(5, 5 + (apdu[4] ?? 0));
        if (data.length === pin.length && data.every((b, i) => b === pin[i])) {
          card.tries = 3;
          return Uint8Array.of(0x90, 0x00);
        }
        card.tries = Math.max(0, card.tries - 1);
        return Uint8Array.of(0x63, 0xc0 | card.tries);
      }
      if (ins === 0xb0) {
        const n = opts.fileLength ?? 1000;
        const out = new Uint8Array(n + 2);
        for (let i = 0; i < n; i++) out[i] = i & 0xff;
        out[n] = 0x90;
        return out;
      }
      if (ins === 0xca) return Uint8Array.of(0x01, 0x02, 0x90, 0x00);
      return Uint8Array.of(0x6d, 0x00);
    },
  };
  return card;
}
