/**
 * A small ISO 7816-4 test card for the direct-card tests: it answers SELECT by AID, a
 * long-answer command, an echo and a no-data ping. Pure: command bytes in, answer bytes out.
 */

/** What the direct card needs from a card (structurally compatible with card-sim's VirtualCard). */
export interface SimpleCard {
  /** Answer to reset as presented to QEMU (must be one QEMU 7.2 accepts and offering T=0). */
  readonly atr: Uint8Array;
  /** One command APDU in, its answer (data + SW1 SW2) out. */
  process(apdu: Uint8Array): Uint8Array | Promise<Uint8Array>;
  reset?(): void;
}

/** `3B 0A` + "CARDLEND01": no interface bytes, so implicit T=0 (ISO 7816-3 §8.2.3), accepted by QEMU 7.2. */
export const TEST_CARD_ATR = Uint8Array.of(0x3b, 0x0a, ...new TextEncoder().encode('CARDLEND01'));
/** AID of the test application: F0 + "cardlend" (proprietary RID range F0, ISO 7816-5). */
export const TEST_CARD_AID = Uint8Array.of(0xf0, ...new TextEncoder().encode('cardlend'));

/** Instructions of the test application (CLA 0x80). */
export const TestCardIns = {
  /** P1P2 = answer length in bytes (0..65535); answers {@link testPattern}(length) + 9000. */
  LongAnswer: 0x10,
  /** Answers the command data + 9000. */
  Echo: 0x20,
  /** No data; answers 9000, with or without a selected application. The benchmark's short APDU: `80 30 00 00`. */
  Ping: 0x30,
} as const;

/** The deterministic bytes of a LongAnswer of `length` bytes. */
export function testPattern(length: number): Uint8Array {
  const out = new Uint8Array(length);
  for (let i = 0; i < length; i++) out[i] = (i * 7 + (i >> 8)) & 0xff;
  return out;
}

const sw = (data: Uint8Array, sw1: number, sw2: number): Uint8Array => {
  const out = new Uint8Array(data.length + 2);
  out.set(data);
  out[data.length] = sw1;
  out[data.length + 1] = sw2;
  return out;
};
const status = (sw1: number, sw2: number): Uint8Array => Uint8Array.of(sw1, sw2);

/** Creates the test card. Its `selected` flag resets with `reset()`. */
export function createTestCard(): SimpleCard & { readonly commands: Uint8Array[] } {
  let selected = false;
  const commands: Uint8Array[] = [];
  return {
    atr: TEST_CARD_ATR,
    commands,
    reset() {
      selected = false;
    },
    process(apdu) {
      commands.push(apdu.slice());
      // ISO 7816-4 §5.1: a command is at least CLA INS P1 P2.
      if (apdu.length < 4) return status(0x67, 0x00);
      const [cla, ins, p1, p2] = apdu as unknown as [number, number, number, number];
      const lc = apdu.length > 5 ? (apdu[4] ?? 0) : 0;
      const data = apdu.subarray(5, 5 + lc);
      if (cla === 0x00 && ins === 0xa4) {
        // SELECT by DF name (P1 = 04), ISO 7816-4 §11.2.2.
        const match =
          p1 === 0x04 &&
          data.length === TEST_CARD_AID.length &&
          data.every((b, i) => b === TEST_CARD_AID[i]);
        selected = match;
        if (!match) return status(0x6a, 0x82);
        // FCI template: 6F { 84 <AID> }
        return sw(
          Uint8Array.of(
            0x6f,
            TEST_CARD_AID.length + 2,
            0x84,
            TEST_CARD_AID.length,
            ...TEST_CARD_AID,
          ),
          0x90,
          0x00,
        );
      }
      if (cla !== 0x80) return status(0x6e, 0x00);
      if (ins === TestCardIns.Ping) return status(0x90, 0x00);
      if (!selected) return status(0x69, 0x85);
      switch (ins) {
        case TestCardIns.LongAnswer:
          return sw(testPattern((p1 << 8) | p2), 0x90, 0x00);
        case TestCardIns.Echo:
          return sw(data, 0x90, 0x00);
        default:
          return status(0x6d, 0x00);
      }
    },
  };
}
