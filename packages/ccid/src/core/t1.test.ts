import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { fromHex, toHex } from './bytes.ts';
import { buildT1Block, crc16, decodeT1Block, t1Edc } from './t1-block.ts';
import type { T1CrcVariant } from './t1-block.ts';
import { T1Session } from './t1.ts';
import type { T1Action } from './t1.ts';

const sent = (a: T1Action): string => {
  expect(a.type).toBe('send');
  return a.type === 'send' ? toHex(a.block) : '';
};
const blk = (pcb: number, inf: string): Uint8Array => buildT1Block(0, pcb, fromHex(inf), 'lrc');

describe('T=1 EDC (ISO/IEC 7816-3:2006 §11.4.4, ccid.md §14.1)', () => {
  it('CRC check value 0x6F91 (libccid variant)', () => {
    expect(crc16(new TextEncoder().encode('123456789'))).toBe(0x6f91);
    expect(toHex(t1Edc(new TextEncoder().encode('123456789'), 'crc', 'libccid'))).toBe('6F 91');
    expect(toHex(t1Edc(new TextEncoder().encode('123456789'), 'crc', 'iso13239'))).toBe('6E 90');
  });
  it('decodes and validates blocks', () => {
    expect(decodeT1Block(fromHex('00 00 02 90 00 92'), 'lrc')).toMatchObject({
      kind: 'I',
      ns: 0,
      isMore: false,
    });
    expect(decodeT1Block(fromHex('00 00 02 90 00 93'), 'lrc')).toMatchObject({
      kind: 'invalid',
      reason: 'edc',
    });
    expect(decodeT1Block(fromHex('00 00 03 90 00 92'), 'lrc')).toMatchObject({
      kind: 'invalid',
      reason: 'other',
    });
    expect(decodeT1Block(fromHex('00 90 00 90'), 'lrc')).toMatchObject({
      kind: 'R',
      nr: 1,
      error: 0,
    });
    expect(decodeT1Block(fromHex('00 A0 00 A0'), 'lrc')).toMatchObject({ kind: 'invalid' });
    expect(decodeT1Block(fromHex('00 C3 00 C3'), 'lrc')).toMatchObject({ kind: 'invalid' });
    expect(decodeT1Block(fromHex('00 FF FF 00'), 'lrc')).toMatchObject({ kind: 'invalid' });
    const crcBlock = buildT1Block(0, 0x40, fromHex('90 00'), 'crc');
    expect(decodeT1Block(crcBlock, 'crc')).toMatchObject({ kind: 'I', ns: 1 });
  });
});

describe('T1Session (ISO/IEC 7816-3:2006 §11)', () => {
  it('worked exchange of ccid.md §14.7: I-blocks, WTX, card chaining', () => {
    const t = new T1Session({ ifsc: 32, ifsd: 32 });
    expect(sent(t.transmit(fromHex('00 A4 04 00 00')))).toBe('00 00 05 00 A4 04 00 00 A5');
    expect(t.onBlock(fromHex('00 00 02 90 00 92'))).toEqual({
      type: 'deliver',
      apdu: fromHex('90 00'),
    });
    expect(sent(t.transmit(fromHex('00 B0 00 00 00')))).toBe('00 40 05 00 B0 00 00 00 F5');
    const wtx = t.onBlock(fromHex('00 C3 01 05 C7'));
    expect(sent(wtx)).toBe('00 E3 01 05 E7');
    expect(wtx).toMatchObject({ wtx: 5 });
    const part1 = new Uint8Array(32).fill(0xaa);
    expect(sent(t.onBlock(blk(0x60, toHex(part1))))).toBe('00 80 00 80');
    const last = t.onBlock(blk(0x00, '01 02 90 00'));
    expect(last.type).toBe('deliver');
    if (last.type === 'deliver')
      expect(toHex(last.apdu)).toBe(toHex(new Uint8Array([...part1, 1, 2, 0x90, 0])));
  });

  it('host chaining by IFSC, acknowledged by R-blocks', () => {
    const t = new T1Session({ ifsc: 4 });
    expect(sent(t.transmit(fromHex('01 02 03 04 05 06 07 08 09 0A')))).toBe(
      toHex(blk(0x20, '01 02 03 04')),
    );
    expect(sent(t.onBlock(blk(0x90, '')))).toBe(toHex(blk(0x60, '05 06 07 08')));
    expect(sent(t.onBlock(blk(0x80, '')))).toBe(toHex(blk(0x00, '09 0A')));
    expect(t.onBlock(blk(0x00, '90 00'))).toEqual({ type: 'deliver', apdu: fromHex('90 00') });
  });

  it('R-block asking for the same N(S) retransmits the I-block', () => {
    const t = new T1Session({ ifsc: 4 });
    const first = sent(t.transmit(fromHex('01 02 03 04 05')));
    expect(sent(t.onBlock(blk(0x81, '')))).toBe(first);
  });

  it('S(IFS request) from the host: ccid.md §14.4 example', () => {
    const t = new T1Session();
    expect(sent(t.negotiateIfsd(254))).toBe('00 C1 01 FE 3E');
    expect(t.onBlock(fromHex('00 E1 01 FE 1E'))).toEqual({ type: 'ifsd-accepted', ifsd: 254 });
    expect(t.ifsd).toBe(254);
  });

  it('IFS negotiation gives up after 3 tries without killing the session', () => {
    const t = new T1Session();
    t.negotiateIfsd(254);
    for (let i = 0; i < 3; i++)
      expect(sent(t.onBlock(fromHex('00 E1 01 20 C0')))).toBe('00 C1 01 FE 3E');
    expect(t.onBlock(fromHex('00 E1 01 20 C0')).type).toBe('failed');
    expect(t.ifsd).toBe(32);
    expect(sent(t.transmit(fromHex('00 A4 04 00')))).toBe(toHex(blk(0x00, '00 A4 04 00')));
  });

  it('S(IFS request) from the card changes IFSC for the following blocks', () => {
    const t = new T1Session({ ifsc: 4 });
    t.transmit(fromHex('01 02 03 04 05 06 07 08 09 0A'));
    expect(sent(t.onBlock(blk(0xc1, '08')))).toBe(toHex(blk(0xe1, '08')));
    expect(t.ifsc).toBe(8);
    expect(sent(t.onBlock(blk(0x90, '')))).toBe(toHex(blk(0x40, '05 06 07 08 09 0A')));
  });

  it('EDC error ⇒ R-block with error 1; rule 7.2 resends the same R-block', () => {
    const t = new T1Session();
    t.transmit(fromHex('00 A4 04 00'));
    expect(sent(t.onBlock(fromHex('00 00 02 90 00 00')))).toBe('00 81 00 81');
    expect(sent(t.onBlock(fromHex('00 00 02 90 00 01')))).toBe('00 81 00 81');
  });

  it('reader-reported BWT timeout ⇒ R-block, then resynch after 3 failures, then APDU restarted', () => {
    const t = new T1Session();
    const i0 = sent(t.transmit(fromHex('00 A4 04 00')));
    expect(sent(t.onError('timeout'))).toBe('00 82 00 82');
    t.onError('timeout');
    t.onError('timeout');
    expect(sent(t.onError('timeout'))).toBe('00 C0 00 C0');
    expect(sent(t.onBlock(fromHex('00 E0 00 E0')))).toBe(i0);
    expect(t.sequence).toEqual({ ns: 0, nr: 0 });
  });

  it('3 failed RESYNCH ⇒ dead until reset', () => {
    const t = new T1Session();
    t.transmit(fromHex('00 A4 04 00'));
    let a: T1Action = { type: 'send', block: new Uint8Array(0), wtx: 1 };
    for (let i = 0; i < 40 && a.type === 'send'; i++) a = t.onError('parity');
    expect(a.type).toBe('failed');
    expect(t.state).toBe('dead');
    expect(t.transmit(fromHex('00 A4 04 00')).type).toBe('failed');
    t.reset();
    expect(t.transmit(fromHex('00 A4 04 00')).type).toBe('send');
  });

  it('wrong card N(S) is an error', () => {
    const t = new T1Session();
    t.transmit(fromHex('00 A4 04 00'));
    expect(sent(t.onBlock(blk(0x40, '90 00')))).toBe('00 82 00 82');
  });

  it('card S(ABORT request) is answered, then the APDU fails', () => {
    const t = new T1Session();
    t.transmit(fromHex('00 A4 04 00'));
    expect(sent(t.onBlock(blk(0xc2, '')))).toBe('00 E2 00 E2');
    expect(t.onBlock(blk(0x00, '90 00')).type).toBe('failed');
  });

  it('CRC blocks', () => {
    const t = new T1Session({ edc: 'crc' });
    const a = t.transmit(fromHex('00 A4 04 00'));
    expect(a.type === 'send' && a.block.length).toBe(3 + 4 + 2);
    expect(t.onBlock(buildT1Block(0, 0, fromHex('90 00'), 'crc'))).toEqual({
      type: 'deliver',
      apdu: fromHex('90 00'),
    });
  });

  it('property: any APDU through a cooperative card chains both ways and arrives intact', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 1, maxLength: 1200 }),
        fc.uint8Array({ maxLength: 1200 }),
        fc.integer({ min: 1, max: 254 }),
        fc.integer({ min: 1, max: 254 }),
        (cmd, resp, ifsc, ifsd) => {
          const t = new T1Session({ ifsc, ifsd });
          // Card model: N(S)/N(R) bookkeeping per ISO 7816-3 §11.6.
          let cardNs = 0;
          let expectNs = 0;
          const got: number[] = [];
          let out = 0;
          let a = t.transmit(cmd);
          let blocks = 0;
          const respond = (): Uint8Array => {
            const n = Math.min(ifsd, resp.length + 2 - out);
            const full = new Uint8Array([...resp, 0x90, 0x00]);
            const more = out + n < full.length;
            const b = blk((cardNs << 6) | (more ? 0x20 : 0), toHex(full.subarray(out, out + n)));
            out += n;
            cardNs ^= 1;
            return b;
          };
          while (a.type === 'send') {
            blocks++;
            const b = decodeT1Block(a.block, 'lrc');
            if (b.kind === 'I') {
              expect(b.inf.length).toBeLessThanOrEqual(ifsc);
              expect(b.ns).toBe(expectNs);
              got.push(...b.inf);
              expectNs ^= 1;
              a = t.onBlock(b.isMore ? blk(0x80 | (expectNs << 4), '') : respond());
            } else if (b.kind === 'R') {
              a = t.onBlock(respond());
            } else throw new Error('unexpected S-block');
          }
          expect(a.type).toBe('deliver');
          if (a.type === 'deliver')
            expect(toHex(a.apdu)).toBe(toHex(new Uint8Array([...resp, 0x90, 0])));
          expect(toHex(Uint8Array.from(got))).toBe(toHex(cmd));
          // Minimum number of blocks: ceil(cmd/ifsc) + ceil((resp+2)/ifsd) - 1 host blocks.
          expect(blocks).toBe(
            Math.ceil(cmd.length / ifsc) + Math.ceil((resp.length + 2) / ifsd) - 1,
          );
        },
      ),
      { numRuns: 200 },
    );
  });
});

describe('T1Session maxSendInf', () => {
  it('chains host I-blocks at min(IFSC, maxSendInf)', () => {
    const t1 = new T1Session({ ifsc: 254, maxSendInf: 250 });
    const apdu = new Uint8Array(260).fill(0x5a);
    const a = t1.transmit(apdu);
    expect(a.type).toBe('send');
    if (a.type !== 'send') return;
    expect(a.block[2]).toBe(250); // LEN
    expect(a.block[1]! & 0x20).toBe(0x20); // M bit: more to come
  });
  it('defaults to IFSC alone', () => {
    const t1 = new T1Session({ ifsc: 254 });
    const a = t1.transmit(new Uint8Array(260));
    expect(a.type === 'send' && a.block[2]).toBe(254);
  });
});

describe('T=1 EDC written and checked in place', () => {
  const referenceEdc = (body: Uint8Array, edc: 'lrc' | 'crc', variant: T1CrcVariant): number[] => {
    if (edc === 'lrc') return [body.reduce((x, b) => x ^ b, 0)];
    const c = crc16(body);
    return variant === 'libccid' ? [c >> 8, c & 0xff] : [~c & 0xff, (~c >> 8) & 0xff];
  };

  it('a built block ends with its EDC, decodes, and any changed EDC bit is caught', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 254 }),
        fc.constantFrom(
          ['lrc', 'libccid'] as const,
          ['crc', 'libccid'] as const,
          ['crc', 'iso13239'] as const,
        ),
        fc.nat(15),
        (inf, [edc, variant], bit) => {
          const block = buildT1Block(0, 0x40, inf, edc, variant);
          const body = block.subarray(0, 3 + inf.length);
          expect([...block.subarray(3 + inf.length)]).toEqual(referenceEdc(body, edc, variant));
          expect([...t1Edc(body, edc, variant)]).toEqual(referenceEdc(body, edc, variant));
          expect(decodeT1Block(block, edc, variant)).toMatchObject({ kind: 'I', ns: 1, inf });
          const at = 3 + inf.length + (edc === 'lrc' ? 0 : bit >> 3);
          block[at]! ^= 1 << (bit & 7);
          expect(decodeT1Block(block, edc, variant)).toMatchObject({
            kind: 'invalid',
            reason: 'edc',
          });
        },
      ),
    );
  });

  it('a response in one block is delivered as its own copy', () => {
    const t1 = new T1Session();
    t1.transmit(fromHex('00 A4 04 00'));
    const block = blk(0x00, '6A 82');
    const a = t1.onBlock(block);
    block.fill(0);
    expect(a.type === 'deliver' && toHex(a.apdu)).toBe('6A 82');
  });
});
