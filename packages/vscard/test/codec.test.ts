import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { VscardError } from '../src/index.ts';
import {
  VSC,
  VSC_DRAFT2010,
  VSCARD_MAX_GUEST_COMMAND_BYTES,
  VscardDecoder,
  VscardFramer,
  clientInit,
  decodeMessage,
  encodeMessage,
  isKnownType,
  isVscardError,
  peekHeader,
  validateClientFrame,
  type Dialect,
  type VscardMessage,
} from '../src/index.ts';
import { arbMessage } from './arbitraries.ts';
import { concat, hex, toHex } from './vectors.ts';
import { codeOf } from './error-code.ts';

describe('encodeMessage / decodeMessage', () => {
  it('encodes the reference bytes of §2.7', () => {
    expect(toHex(encodeMessage(clientInit()))).toBe(
      '00000001000000000000000c565343440000000200000000',
    );
    expect(
      toHex(encodeMessage({ type: 'ReaderAdd', readerId: 0xffffffff, name: 'lab reader' })),
    ).toBe('00000003ffffffff0000000a6c616220726561646572');
    expect(toHex(encodeMessage({ type: 'CardRemove', readerId: 0 }))).toBe(
      '000000060000000000000000',
    );
    expect(toHex(encodeMessage({ type: 'ReaderRemove', readerId: 0 }))).toBe(
      '000000040000000000000000',
    );
  });

  it('writes client Error codes little-endian by default and big-endian on request (§2.5)', () => {
    const e: VscardMessage = { type: 'Error', readerId: 0, code: 1 };
    expect(toHex(encodeMessage(e))).toBe('00000002000000000000000401000000');
    expect(toHex(encodeMessage(e, { errorCodeByteOrder: 'be' }))).toBe(
      '00000002000000000000000400000001',
    );
    expect(decodeMessage(hex('00000002000000000000000400000001'))).toEqual(e);
    expect(
      decodeMessage(hex('00000002000000000000000401000000'), { errorCodeByteOrder: 'le' }),
    ).toEqual(e);
  });

  it('decodes the magic as literal bytes and any number of capabilities', () => {
    const m = decodeMessage(
      hex('000000010000000000000014565343440000000200000001deadbeef00000000'),
    );
    expect(m).toEqual({
      type: 'Init',
      readerId: 0,
      magic: hex('56534344'),
      version: 2,
      capabilities: [1, 0xdeadbeef, 0],
    });
    const none = decodeMessage(hex('0000000100000000000000085653434400000002'));
    expect(none).toMatchObject({ type: 'Init', capabilities: [] });
  });

  it('surfaces unknown types instead of throwing', () => {
    expect(decodeMessage(hex('123456780000004200000002aabb'))).toEqual({
      type: 'Unknown',
      code: 0x12345678,
      readerId: 0x42,
      payload: hex('aabb'),
    });
    // Type 0 is unknown in the current protocol but Init in the draft.
    expect(decodeMessage(hex('00000000000000000000000400000001'))).toMatchObject({
      type: 'Unknown',
      code: 0,
    });
  });

  it('decodes the 2010 draft numbering as a dialect (§2.6)', () => {
    const d = { dialect: 'draft2010' } as const;
    expect(decodeMessage(hex('00000000000000000000000400000001'), d)).toEqual({
      type: 'Init',
      readerId: 0,
      magic: new Uint8Array(0),
      version: 1,
      capabilities: [],
    });
    expect(decodeMessage(hex('000000030000000500000000'), d)).toEqual({
      type: 'ReaderAddResponse',
      readerId: 5,
    });
    expect(decodeMessage(hex('00000001000000000000000400000000'), d)).toEqual({
      type: 'Error',
      readerId: 0,
      code: 0,
    });
    // Reconnect: ip u32 BE + port u16 BE, with or without the C struct's 2 padding bytes.
    const reconnect = { type: 'Reconnect', readerId: 0, ip: 0x7f000001, port: 5901 };
    expect(decodeMessage(hex('0000000800000000000000067f000001170d'), d)).toEqual(reconnect);
    expect(decodeMessage(hex('0000000800000000000000087f000001170d0000'), d)).toEqual(reconnect);
    expect(toHex(encodeMessage(reconnect as VscardMessage, d))).toBe(
      '0000000800000000000000067f000001170d',
    );
    // In the current numbering type 8 is Flush and type 3 ReaderAdd.
    expect(decodeMessage(hex('000000030000000500000000'))).toEqual({
      type: 'ReaderAdd',
      readerId: 5,
      name: '',
    });
    expect(VSC_DRAFT2010.ATR).toBe(VSC.ATR);
  });

  it('refuses to encode types a dialect lacks, and bad numbers (caller mistakes)', () => {
    expect(() => encodeMessage({ type: 'Flush', readerId: 0 }, { dialect: 'draft2010' })).toThrow(
      RangeError,
    );
    expect(() => encodeMessage({ type: 'ReaderAddResponse', readerId: 0 })).toThrow(RangeError);
    expect(() => encodeMessage({ type: 'CardRemove', readerId: -1 })).toThrow(RangeError);
    expect(() => encodeMessage({ type: 'Error', readerId: 0, code: 2 ** 32 })).toThrow(RangeError);
    expect(() => encodeMessage({ type: 'APDU', readerId: 0, apdu: new Uint8Array(65525) })).toThrow(
      RangeError,
    );
    expect(encodeMessage({ type: 'APDU', readerId: 0, apdu: new Uint8Array(65524) }).length).toBe(
      65536,
    );
    // A host double may encode the largest guest command QEMU forwards, and no more.
    const guestMax = { maxPayloadBytes: VSCARD_MAX_GUEST_COMMAND_BYTES };
    expect(
      encodeMessage({ type: 'APDU', readerId: 0, apdu: new Uint8Array(65526) }, guestMax).length,
    ).toBe(65538);
    expect(() =>
      encodeMessage({ type: 'APDU', readerId: 0, apdu: new Uint8Array(65527) }, guestMax),
    ).toThrow(RangeError);
  });

  it('reports impossible payloads and wrong sizes with typed errors', () => {
    const cases: [string, string][] = [
      ['0000000200000000000000030000aa', 'VSCARD_BAD_PAYLOAD'], // Error with 3 bytes
      ['000000010000000000000000', 'VSCARD_BAD_PAYLOAD'], // Init without payload
      ['0000000100000000000000095653434400000002ff', 'VSCARD_BAD_PAYLOAD'], // half capability
      ['000000060000000000000001ff', 'VSCARD_BAD_PAYLOAD'], // CardRemove with payload
      ['000000030000000000000002c328', 'VSCARD_BAD_PAYLOAD'], // name not UTF-8
      ['0000000100000000', 'VSCARD_TRUNCATED'],
      ['00000007000000000000000300a4', 'VSCARD_TRUNCATED'],
      ['00000007000000000000000100a4aa', 'VSCARD_LENGTH_MISMATCH'],
      ['00000007000000000000fff5', 'VSCARD_PAYLOAD_TOO_LARGE'],
    ];
    for (const [h, code] of cases)
      expect(
        codeOf(() => decodeMessage(hex(h))),
        h,
      ).toBe(code);
  });

  it('round-trips any message (property, both dialects)', () => {
    for (const dialect of ['current', 'draft2010'] as Dialect[]) {
      fc.assert(
        fc.property(arbMessage(dialect), (m) => {
          const bytes = encodeMessage(m, { dialect, errorCodeByteOrder: 'be' });
          expect(decodeMessage(bytes, { dialect })).toEqual(m);
          const le = encodeMessage(m, { dialect });
          expect(decodeMessage(le, { dialect, errorCodeByteOrder: 'le' })).toEqual(m);
        }),
        { numRuns: 300 },
      );
    }
  });

  it('peekHeader reads a big-endian header and says when it is incomplete', () => {
    expect(peekHeader(hex('00000007000000'))).toEqual({ kind: 'incomplete' });
    expect(peekHeader(hex('00000007000000010000ffff'))).toEqual({
      kind: 'header',
      type: 7,
      readerId: 1,
      length: 0xffff,
    });
    expect(isKnownType(9)).toBe(true);
    expect(isKnownType(0)).toBe(false);
    expect(isKnownType(0, 'draft2010')).toBe(true);
    expect(isKnownType(9, 'draft2010')).toBe(false);
  });
});

describe('VscardFramer', () => {
  const apdu = encodeMessage({
    type: 'APDU',
    readerId: 0,
    apdu: hex('00a4040009a0000003080000100000'),
  });

  it('rejects an oversized declared length as soon as the header arrives, before buffering', () => {
    const f = new VscardFramer();
    expect(f.push(hex('0000000700000000'))).toEqual([]);
    expect(f.bufferedBytes).toBe(8);
    expect(codeOf(() => f.push(hex('7fffffff')))).toBe('VSCARD_PAYLOAD_TOO_LARGE');
    expect(f.state).toBe('failed');
    expect(f.bufferedBytes).toBe(0);
    // Stays failed: every later push and finish throws the same kind, with the cause.
    for (let i = 0; i < 3; i++) {
      try {
        f.push(apdu);
        expect.unreachable();
      } catch (e) {
        expect(isVscardError(e) && e.code).toBe('VSCARD_DECODER_FAILED');
        expect((e as VscardError).cause).toBe(f.error);
      }
    }
    expect(codeOf(() => f.finish())).toBe('VSCARD_DECODER_FAILED');
    expect(f.error?.code).toBe('VSCARD_PAYLOAD_TOO_LARGE');
  });

  it('accepts 65524 and refuses 65525 by default; the limit is an option', () => {
    const head = (len: number): Uint8Array =>
      hex('00000063000000' + '00' + len.toString(16).padStart(8, '0'));
    const f = new VscardFramer();
    expect(f.push(head(65524))).toEqual([]);
    expect(f.state).toBe('payload');
    expect(codeOf(() => new VscardFramer().push(head(65525)))).toBe('VSCARD_PAYLOAD_TOO_LARGE');
    expect(codeOf(() => new VscardFramer({ maxPayloadBytes: 4 }).push(head(5)))).toBe(
      'VSCARD_PAYLOAD_TOO_LARGE',
    );
    expect(() => new VscardFramer({ maxPayloadBytes: -1 })).toThrow(RangeError);
  });

  it('returns views for whole messages and copies for messages spanning chunks', () => {
    const two = concat([apdu, apdu]);
    const f = new VscardFramer();
    const frames = f.push(two);
    expect(frames).toHaveLength(2);
    expect(frames[1]?.bytes.buffer).toBe(two.buffer);
    expect(frames[1]?.bytes.byteOffset).toBe(apdu.length);
    const g = new VscardFramer();
    expect(g.push(apdu.subarray(0, 20))).toEqual([]);
    expect(g.state).toBe('payload');
    expect(g.bufferedBytes).toBe(20);
    const [spanned] = g.push(apdu.subarray(20));
    expect(spanned?.bytes.buffer).not.toBe(apdu.buffer);
    expect(toHex(spanned?.bytes ?? new Uint8Array())).toBe(toHex(apdu));
    expect(g.bufferedBytes).toBe(0);
  });

  it('finish() throws VSCARD_TRUNCATED inside a header or payload, and is fine at a boundary', () => {
    const f = new VscardFramer();
    f.push(apdu);
    f.finish();
    expect(f.state).toBe('header');
    f.push(apdu.subarray(0, 5));
    expect(codeOf(() => f.finish())).toBe('VSCARD_TRUNCATED');
    expect(f.state).toBe('failed');
    const g = new VscardFramer();
    g.push(apdu.subarray(0, 13));
    expect(codeOf(() => g.finish())).toBe('VSCARD_TRUNCATED');
  });

  it('keeps a header cut anywhere, again and again, after whole messages (header made on first use)', () => {
    const a = encodeMessage({ type: 'APDU', readerId: 3, apdu: Uint8Array.of(1, 2, 3) });
    const b = encodeMessage({ type: 'CardRemove', readerId: 7 });
    const fr = new VscardFramer();
    expect(fr.push(a).map((x) => toHex(x.bytes))).toEqual([toHex(a)]);
    for (let cut = 1; cut < 12; cut++) {
      // Header split in two, then the byte-at-a-time worst case, each between whole messages.
      expect(fr.push(b.subarray(0, cut))).toEqual([]);
      expect(fr.bufferedBytes).toBe(cut);
      expect(fr.push(b.subarray(cut)).map((x) => [x.type, x.readerId, toHex(x.bytes)])).toEqual([
        [6, 7, toHex(b)],
      ]);
      const got: Uint8Array[] = [];
      for (let i = 0; i < a.length; i++)
        got.push(...fr.push(a.subarray(i, i + 1)).map((x) => x.bytes));
      expect(got.map(toHex)).toEqual([toHex(a)]);
      expect(fr.bufferedBytes).toBe(0);
    }
  });

  it('yields identical messages under arbitrary re-chunking (property)', () => {
    fc.assert(
      fc.property(
        fc.array(arbMessage(), { minLength: 1, maxLength: 8 }),
        fc.array(fc.nat({ max: 2000 }), { maxLength: 12 }),
        (msgs, cuts) => {
          const encoded = msgs.map((m) => encodeMessage(m, { errorCodeByteOrder: 'be' }));
          const stream = concat(encoded);
          const points = [...new Set(cuts.map((c) => c % (stream.length + 1)))].sort(
            (a, b) => a - b,
          );
          const chunks: Uint8Array[] = [];
          let prev = 0;
          for (const p of [...points, stream.length]) {
            chunks.push(stream.subarray(prev, p));
            prev = p;
          }
          const d = new VscardDecoder();
          const got = chunks.flatMap((c) => d.push(c));
          d.finish();
          expect(got).toEqual(msgs);
          const fr = new VscardFramer();
          const frames = chunks.flatMap((c) => fr.push(c));
          expect(frames.map((x) => toHex(x.bytes))).toEqual(encoded.map(toHex));
        },
      ),
      { numRuns: 200 },
    );
  });

  it('turns random bytes into messages or VscardError only (fuzz)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.uint8Array({ maxLength: 64 }), { maxLength: 10 }),
        fc.constantFrom<Dialect>('current', 'draft2010'),
        fc.boolean(),
        (chunks, dialect, isHeaderish) => {
          const d = new VscardDecoder({ dialect, maxPayloadBytes: 512 });
          for (const c0 of chunks) {
            // Half the runs start chunks with a plausible header so payload decoding is reached.
            const c = isHeaderish && c0.length >= 12 ? Uint8Array.from(c0) : c0;
            if (isHeaderish && c.length >= 12) {
              c.set([0, 0, 0, (c[3] ?? 0) % 10, 0, 0, 0, 0, 0, 0, 0, (c[11] ?? 0) % 16], 0);
            }
            try {
              for (const m of d.push(c)) expect(typeof m.type).toBe('string');
            } catch (e) {
              expect(isVscardError(e)).toBe(true);
            }
          }
          try {
            d.finish();
          } catch (e) {
            expect(isVscardError(e)).toBe(true);
          }
          try {
            decodeMessage(concat(chunks), { dialect });
          } catch (e) {
            expect(isVscardError(e)).toBe(true);
          }
          try {
            validateClientFrame(concat(chunks));
          } catch (e) {
            expect(isVscardError(e)).toBe(true);
          }
        },
      ),
      { numRuns: 500 },
    );
  });

  it('VscardDecoder fails for good on a bad payload', () => {
    const d = new VscardDecoder();
    expect(codeOf(() => d.push(hex('0000000200000000000000030000aa')))).toBe('VSCARD_BAD_PAYLOAD');
    expect(d.state).toBe('failed');
    expect(codeOf(() => d.push(apdu))).toBe('VSCARD_DECODER_FAILED');
    expect(codeOf(() => d.finish())).toBe('VSCARD_DECODER_FAILED');
  });

  it('VscardDecoder decodes the draft dialect stream', () => {
    const d = new VscardDecoder({ dialect: 'draft2010' });
    const msgs = d.push(hex('000000030000000700000000' + '0000000800000000000000067f000001170d'));
    expect(msgs).toEqual([
      { type: 'ReaderAddResponse', readerId: 7 },
      { type: 'Reconnect', readerId: 0, ip: 0x7f000001, port: 5901 },
    ]);
  });
});

describe('validateClientFrame', () => {
  it('accepts one whole message of a client type and returns the same bytes', () => {
    const bytes = encodeMessage({ type: 'APDU', readerId: 0, apdu: hex('9000') });
    const f = validateClientFrame(bytes);
    expect(f).toEqual({ type: 7, readerId: 0, length: 2, bytes });
    expect(f.bytes).toBe(bytes);
    for (const t of [1, 2, 3, 4, 5, 6, 7]) {
      expect(validateClientFrame(hex(`0000000${t}0000000000000000`)).type).toBe(t);
    }
  });

  it('refuses partial, coalesced, oversized, unknown and host-only frames', () => {
    const cases: [string, string][] = [
      ['00000007000000', 'VSCARD_TRUNCATED'],
      ['0000000700000000000000029000aa', 'VSCARD_LENGTH_MISMATCH'],
      ['00000007000000000000000290', 'VSCARD_LENGTH_MISMATCH'],
      ['000000060000000000000000000000040000000000000000', 'VSCARD_LENGTH_MISMATCH'],
      ['00000007000000000000fff5', 'VSCARD_PAYLOAD_TOO_LARGE'],
      ['000000070000000080000000', 'VSCARD_PAYLOAD_TOO_LARGE'],
      ['000000000000000000000000', 'VSCARD_UNKNOWN_TYPE'],
      ['0000000a0000000000000000', 'VSCARD_UNKNOWN_TYPE'],
      ['ffffffff0000000000000000', 'VSCARD_UNKNOWN_TYPE'],
      ['000000080000000000000000', 'VSCARD_UNEXPECTED_TYPE'],
      ['000000090000000000000000', 'VSCARD_UNEXPECTED_TYPE'],
    ];
    for (const [h, code] of cases)
      expect(
        codeOf(() => validateClientFrame(hex(h))),
        h,
      ).toBe(code);
  });
});
