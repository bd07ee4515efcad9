/**
 * The simulator builds its answers in place (TLVs, T=1 blocks with their EDC, bulk transfers):
 * the bytes equal what joining the parts gives, and each answer is the caller's own.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { concatBytes } from '../src/bytes.ts';
import { FaultInjector } from '../src/faults.ts';
import { createPivDemoCard, PIV_AID } from '../src/piv/piv-card.ts';
import { berLength, tlv } from '../src/piv/tlv.ts';
import { crc16, lrc, T1CardEngine, withEdc } from '../src/t1-card.ts';
import { BulkInQueue, BulkOutAssembler } from '../src/usb/bulk-pipe.ts';
import { getDefaultPivCredentials } from '../src/piv/credentials.ts';

/** BER-TLV as ISO 7816-4 §5.2 spells it, joined from its parts. */
function referenceTlv(tag: number, value: Uint8Array): Uint8Array {
  const tagBytes =
    tag > 0xffff
      ? [tag >> 16, (tag >> 8) & 0xff, tag & 0xff]
      : tag > 0xff
        ? [tag >> 8, tag & 0xff]
        : [tag];
  const n = value.length;
  const len =
    n < 0x80
      ? [n]
      : n < 0x100
        ? [0x81, n]
        : n < 0x10000
          ? [0x82, n >> 8, n & 0xff]
          : [0x83, n >> 16, (n >> 8) & 0xff, n & 0xff];
  return concatBytes(Uint8Array.from(tagBytes), Uint8Array.from(len), value);
}

/** The CRC register the T=1 EDC is made of (reflected CCITT, init FFFF). */
function referenceCrc(bytes: Uint8Array): number {
  let crc = 0xffff;
  for (const b of bytes) {
    crc ^= b;
    for (let i = 0; i < 8; i++) crc = crc & 1 ? (crc >>> 1) ^ 0x8408 : crc >>> 1;
  }
  return crc;
}

describe('TLVs built in place', () => {
  it('equal the joined tag, BER length and values for every tag width and length form', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(0x53, 0x7f49, 0x5fc105),
        fc.array(fc.uint8Array({ maxLength: 300 }), { maxLength: 3 }),
        (tag, values) => {
          const joined = concatBytes(...values);
          expect(tlv(tag, ...values)).toEqual(referenceTlv(tag, joined));
        },
      ),
    );
    for (const n of [0, 0x7f, 0x80, 0xff, 0x100, 0xffff, 0x10000]) {
      expect(tlv(0x70, new Uint8Array(n))).toEqual(referenceTlv(0x70, new Uint8Array(n)));
      expect(berLength(n)).toEqual(
        referenceTlv(0x70, new Uint8Array(n)).subarray(1, -n || undefined),
      );
    }
  });
});

describe('the PIV SELECT answer', () => {
  it('is the application property template, a fresh array each time', async () => {
    const card = await createPivDemoCard({ credentials: await getDefaultPivCredentials() });
    const select = concatBytes(
      Uint8Array.of(0x00, 0xa4, 0x04, 0x00, 0x09),
      PIV_AID.subarray(0, 9),
      Uint8Array.of(0),
    );
    const first = await card.process(select);
    const apt = referenceTlv(
      0x61,
      concatBytes(
        referenceTlv(0x4f, PIV_AID.subarray(5)),
        referenceTlv(0x79, referenceTlv(0x4f, PIV_AID.subarray(0, 5))),
        referenceTlv(0x50, new TextEncoder().encode('cardlend demo PIV')),
      ),
    );
    expect(first).toEqual(concatBytes(apt, Uint8Array.of(0x90, 0x00)));
    first.fill(0xee); // the caller's copy: the next answer is not affected
    expect(await card.process(select)).toEqual(concatBytes(apt, Uint8Array.of(0x90, 0x00)));
    // Ne 16: the first 16 bytes and 61xx, the rest with GET RESPONSE.
    const short = await card.process(concatBytes(select.subarray(0, -1), Uint8Array.of(16)));
    expect(short).toEqual(concatBytes(apt.subarray(0, 16), Uint8Array.of(0x61, apt.length - 16)));
    const rest = await card.process(Uint8Array.of(0x00, 0xc0, 0x00, 0x00, apt.length - 16));
    expect(rest).toEqual(concatBytes(apt.subarray(16), Uint8Array.of(0x90, 0x00)));
  });
});

describe('T=1 EDC written in place', () => {
  it('withEdc and crc16 give the LRC and both CRC byte orders of the body', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 260 }), (body) => {
        const crc = referenceCrc(body);
        const x = crc ^ 0xffff;
        expect(withEdc(body, 'lrc')).toEqual(concatBytes(body, Uint8Array.of(lrc(body))));
        expect(crc16(body)).toEqual(Uint8Array.of(crc >>> 8, crc & 0xff));
        expect(crc16(body, 'iso13239')).toEqual(Uint8Array.of(x & 0xff, x >>> 8));
        expect(withEdc(body, 'crc', 'iso13239')).toEqual(
          concatBytes(body, crc16(body, 'iso13239')),
        );
      }),
    );
  });

  it.each([
    ['lrc', 'libccid'],
    ['crc', 'libccid'],
    ['crc', 'iso13239'],
  ] as const)(
    'the card answers a %s (%s) I-block and refuses a corrupt one',
    async (edc, variant) => {
      const commands: Uint8Array[] = [];
      const engine = new T1CardEngine({
        ifsc: 32,
        edc,
        crcVariant: variant,
        app: (apdu) => {
          commands.push(apdu);
          return Uint8Array.of(0x90, 0x00);
        },
      });
      const block = withEdc(Uint8Array.of(0x00, 0x00, 4, 0x00, 0xa4, 0x04, 0x00), edc, variant);
      const answer = await engine.receive(block);
      expect(answer).toEqual(withEdc(Uint8Array.of(0x00, 0x00, 2, 0x90, 0x00), edc, variant));
      expect(commands).toEqual([Uint8Array.of(0x00, 0xa4, 0x04, 0x00)]);
      block.fill(0); // the card's command is its own copy
      expect(commands[0]).toEqual(Uint8Array.of(0x00, 0xa4, 0x04, 0x00));
      const corrupt = withEdc(Uint8Array.of(0x00, 0x40, 1, 0x00), edc, variant);
      corrupt[corrupt.length - 1]! ^= 0x01;
      expect(await engine.receive(corrupt)).toEqual(
        withEdc(Uint8Array.of(0x00, 0x91, 0), edc, variant),
      );
    },
  );
});

describe('bulk transfers', () => {
  it('messages assembled from OUT transfers stay as they were whatever comes next', () => {
    const out = new BulkOutAssembler(271);
    const message = (seq: number, data: number[]): Uint8Array =>
      Uint8Array.from([0x6f, data.length, 0, 0, 0, 0, seq, 0, 0, 0, ...data]);
    const a = message(1, [1, 2, 3]);
    const b = message(2, [4, 5]);
    const c = message(3, [6]);
    const first = out.push(concatBytes(a, b, c.subarray(0, 4)));
    const second = out.push(c.subarray(4));
    expect(first).toEqual([
      { kind: 'message', message: a },
      { kind: 'message', message: b },
    ]);
    expect(second).toEqual([{ kind: 'message', message: c }]);
    const transfer = message(4, [7, 7, 7]);
    expect(out.push(transfer)).toEqual([{ kind: 'message', message: transfer }]);
    expect((out.push(c)[0] as { message: Uint8Array }).message).toBe(c); // a whole message: the transfer itself
    expect(first.map((e) => e.kind === 'message' && [...e.message])).toEqual([[...a], [...b]]);
  });

  it('each IN transfer hands a DataView over its own fresh buffer', async () => {
    const queue = new BulkInQueue(8, new FaultInjector());
    const whole = Uint8Array.from({ length: 20 }, (_, i) => i);
    queue.push(whole);
    queue.push(whole);
    const never = (): Promise<void> => Promise.reject(new Error('nothing more'));
    const r1 = await queue.read(64, never);
    const r2 = await queue.read(64, never);
    expect(r1.status).toBe('ok');
    const bytes = (r: typeof r1): Uint8Array =>
      new Uint8Array(r.data!.buffer, r.data!.byteOffset, r.data!.byteLength);
    expect(bytes(r1)).toEqual(whole);
    expect(r1.data!.byteLength).toBe(r1.data!.buffer.byteLength);
    expect(r1.data!.buffer).not.toBe(r2.data!.buffer);
    bytes(r1).fill(0);
    expect(bytes(r2)).toEqual(whole);
    expect(whole[19]).toBe(19);
  });
});
