/**
 * QemuInputBuffer against the recorded behaviour of QEMU 7.2 (vscard-protocol.md §5, vectors
 * s13–s15) and against the framer: while nothing creeps past 64 KiB, QEMU handles exactly the
 * messages a framer cuts, whatever the read boundaries.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  QEMU_CHARDEV_READ_BYTES,
  QEMU_VSCARD_IN_BYTES,
  QemuInputBuffer,
  VscardFramer,
  encodeMessage,
  qemuReadsAllAtOnce,
} from '../src/index.ts';
import { concat } from './vectors.ts';

function unknown(code: number, payloadBytes: number, fill = 0x5a): Uint8Array {
  return encodeMessage(
    { type: 'Unknown', code, readerId: 0, payload: new Uint8Array(payloadBytes).fill(fill) },
    { maxPayloadBytes: 1 << 20 },
  );
}

const READER_ADD = encodeMessage({ type: 'ReaderAdd', readerId: 0, name: '' });
const INIT = Uint8Array.from(
  Buffer.from('00000001000000000000000c565343440000000200000000', 'hex'),
);

describe('QemuInputBuffer: QEMU 7.2 observations', () => {
  it('handles a 65 524-byte payload from an empty buffer and rewinds (s14)', () => {
    const q = new QemuInputBuffer();
    const { messages, unread } = qemuReadsAllAtOnce(q, unknown(0x63, 65524));
    expect(unread).toBe(0);
    expect(messages.map((m) => m.length)).toEqual([65524]);
    expect(q.registers).toEqual({ pos: 0, hdr: 0 });
    expect(q.status).toBe('ok');
  });

  it('is doomed by 65 525 and wedges once the buffer is full; nothing after is handled (s14)', () => {
    const q = new QemuInputBuffer();
    const header = unknown(0x63, 65525).subarray(0, 12);
    q.read(header);
    expect(q.status).toBe('doomed');
    const rest = concat([new Uint8Array(65525), INIT]);
    const { messages, unread } = qemuReadsAllAtOnce(q, rest);
    expect(messages).toEqual([]);
    expect(q.status).toBe('wedged');
    expect(q.registers).toEqual({ pos: QEMU_VSCARD_IN_BYTES, hdr: 0 });
    expect(q.canRead).toBe(0);
    expect(unread).toBe(65525 + 24 - (QEMU_VSCARD_IN_BYTES - 12));
    expect(() => q.read(Uint8Array.of(0))).toThrow(RangeError);
  });

  it('is doomed by a 0x7fffffff length at once (s13)', () => {
    const q = new QemuInputBuffer();
    q.read(Uint8Array.from(Buffer.from('00000007000000007fffffff', 'hex')));
    expect(q.status).toBe('doomed');
  });

  it('creeps shut on 112-byte reads that always end mid-message: 585 of 700 handled (s15)', () => {
    const q = new QemuInputBuffer();
    const stream = concat(Array.from({ length: 700 }, () => unknown(0x63, 100, 0x11)));
    let handled = 0;
    let off = 0;
    for (const size of [50, ...Array<number>(700).fill(112)]) {
      if (q.maxReadBytes === 0) break;
      const take = Math.min(size, q.maxReadBytes, stream.length - off);
      handled += q.read(stream.subarray(off, off + take)).length;
      off += take;
    }
    expect(handled).toBe(585);
    expect(q.status).toBe('wedged');
  });

  it('wedges on ReaderAdd + a 65 524-byte APDU landing in one read (issue 11)', () => {
    const q = new QemuInputBuffer();
    const apdu = encodeMessage({ type: 'APDU', readerId: 0, apdu: new Uint8Array(65524) });
    const { messages, unread } = qemuReadsAllAtOnce(q, concat([READER_ADD, apdu]));
    expect(messages.map((m) => m.type)).toEqual([3]);
    expect(q.status).toBe('wedged');
    expect(q.registers).toEqual({ pos: QEMU_VSCARD_IN_BYTES, hdr: 12 });
    expect(unread).toBe(12);
  });

  it('survives the same pair when the first read ends right after ReaderAdd', () => {
    const q = new QemuInputBuffer();
    expect(q.read(READER_ADD)).toHaveLength(1);
    expect(q.registers).toEqual({ pos: 0, hdr: 0 });
    const apdu = encodeMessage({ type: 'APDU', readerId: 0, apdu: new Uint8Array(65524) });
    expect(qemuReadsAllAtOnce(q, apdu).messages).toHaveLength(1);
    expect(q.status).toBe('ok');
  });

  it('refuses reads QEMU cannot do', () => {
    const q = new QemuInputBuffer();
    expect(() => q.read(new Uint8Array(0))).toThrow(RangeError);
    expect(() => q.read(new Uint8Array(QEMU_CHARDEV_READ_BYTES + 1))).toThrow(RangeError);
  });

  it('reset() empties the buffer (device re-created, s22)', () => {
    const q = new QemuInputBuffer();
    q.read(Uint8Array.from(Buffer.from('00000007000000007fffffff', 'hex')));
    q.reset();
    expect(q.status).toBe('ok');
    expect(q.read(INIT)).toHaveLength(1);
  });
});

describe('QemuInputBuffer against the framer (property)', () => {
  const arbMessages = fc.array(
    fc.record({ type: fc.integer({ min: 1, max: 12 }), length: fc.nat({ max: 9000 }) }),
    { minLength: 1, maxLength: 40 },
  );

  it('handles what the framer cuts until the first message that cannot fit; then it is doomed', () => {
    fc.assert(
      fc.property(
        arbMessages,
        fc.array(fc.integer({ min: 1, max: 4096 }), { minLength: 1 }),
        (specs, sizes) => {
          const stream = concat(specs.map((s, i) => unknown(s.type, s.length, i & 0xff)));
          const framed = new VscardFramer().push(stream);
          const q = new QemuInputBuffer();
          const handled: number[] = [];
          let off = 0;
          let i = 0;
          while (off < stream.length && q.maxReadBytes > 0) {
            const size = sizes[i++ % sizes.length] ?? 1;
            const take = Math.min(size, q.maxReadBytes, stream.length - off);
            for (const m of q.read(stream.subarray(off, off + take))) handled.push(m.length);
            off += take;
          }
          // Same messages in the same order, as a prefix of the framer's.
          expect(handled).toEqual(framed.slice(0, handled.length).map((f) => f.length));
          if (handled.length < framed.length) {
            // Stopped early: only because a message could not fit.
            expect(q.status).not.toBe('ok');
          } else {
            expect(q.status).toBe('ok');
            expect(q.registers).toEqual({ pos: 0, hdr: 0 });
          }
        },
      ),
      { numRuns: 300 },
    );
  });
});
