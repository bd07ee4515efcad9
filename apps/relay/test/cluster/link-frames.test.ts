/** Framing on a resume link: frames survive any split; bad bytes fail the decoder for good. */
import { describe, expect, it } from 'vitest';
import {
  encodeBeatFrame,
  encodeCloseFrame,
  encodeMessageFrame,
  LinkFrameDecoder,
  LinkFrameError,
  MAX_CLOSE_REASON_BYTES,
  MAX_LINK_FRAME_PAYLOAD,
  type LinkFrame,
} from '../../src/cluster/link-frames.ts';

/** A deterministic pseudo-random source (fixed seed). */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

/** A frame with its bytes as hex (compared as one string). */
const plain = (f: LinkFrame) =>
  f.kind === 'binary' || f.kind === 'text' ? { kind: f.kind, data: f.data.toString('hex') } : f;

describe('link frames', () => {
  const stream = Buffer.concat([
    encodeMessageFrame(Uint8Array.of(0, 0, 0, 7, 1, 2), true),
    encodeMessageFrame('{"type":"resume"}', false),
    encodeBeatFrame('ping'),
    encodeMessageFrame(new Uint8Array(0), true),
    encodeBeatFrame('pong'),
    encodeMessageFrame(Buffer.alloc(70_000, 0xab), true),
    encodeCloseFrame(4011, 'The VM closed its side.'),
  ]);
  const expected = [
    { kind: 'binary', data: '000000070102' },
    { kind: 'text', data: Buffer.from('{"type":"resume"}').toString('hex') },
    { kind: 'ping' },
    { kind: 'binary', data: '' },
    { kind: 'pong' },
    { kind: 'binary', data: 'ab'.repeat(70_000) },
    { kind: 'close', code: 4011, reason: 'The VM closed its side.' },
  ];

  it('decodes the same frames whatever the chunk boundaries (200 random splits)', () => {
    const random = rng(42);
    for (let round = 0; round < 200; round++) {
      const d = new LinkFrameDecoder();
      const frames: LinkFrame[] = [];
      let at = 0;
      while (at < stream.length) {
        const n = 1 + Math.floor(random() * (round % 2 === 0 ? 16 : 9000));
        frames.push(...d.push(stream.subarray(at, at + n)));
        at += n;
      }
      expect(frames.map(plain)).toEqual(expected);
      expect(d.bufferedBytes).toBe(0);
    }
  });

  it('cuts a long close reason on a character boundary', () => {
    const reason = 'é'.repeat(100); // 200 bytes
    const [f] = new LinkFrameDecoder().push(encodeCloseFrame(4000, reason));
    expect(f?.kind).toBe('close');
    const got = f?.kind === 'close' ? f.reason : '';
    expect(Buffer.byteLength(got)).toBeLessThanOrEqual(MAX_CLOSE_REASON_BYTES);
    expect(got).toBe('é'.repeat(61));
  });

  it.each([
    ['an oversized length', header(MAX_LINK_FRAME_PAYLOAD + 1, 1), 'oversized'],
    ['an unknown kind', header(0, 9), 'unknown-kind'],
    ['a close without a code', Buffer.concat([header(1, 3), Buffer.of(3)]), 'bad-close'],
    ['a ping with a payload', Buffer.concat([header(1, 4), Buffer.of(0)]), 'unknown-kind'],
  ])('refuses %s, and everything after it', (_what, bytes, problem) => {
    const d = new LinkFrameDecoder();
    expect(() => d.push(bytes)).toThrow(expect.objectContaining({ problem }));
    expect(() => d.push(encodeBeatFrame('ping'))).toThrow(LinkFrameError);
  });

  it('refuses an oversized frame as soon as its header is seen, without buffering it', () => {
    const d = new LinkFrameDecoder();
    expect(d.push(header(MAX_LINK_FRAME_PAYLOAD, 1).subarray(0, 3))).toEqual([]);
    expect(() => d.push(Buffer.of(0xff, 0xff, 1))).toThrow(
      expect.objectContaining({ problem: 'oversized' }),
    );
    expect(d.bufferedBytes).toBe(0);
  });
});

function header(length: number, kind: number): Buffer {
  const h = Buffer.alloc(5);
  h.writeUInt32BE(length, 0);
  h[4] = kind;
  return h;
}
