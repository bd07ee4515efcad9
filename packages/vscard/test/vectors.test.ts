/**
 * Replays every golden vector (vscard-protocol.md §10) byte-exactly: each client stream and
 * each host message goes through the framer whole, one byte at a time and in random splits;
 * every message is decoded and re-encoded to the same bytes; the relay check is applied to
 * every client message.
 */
import { describe, expect, it } from 'vitest';
import {
  VscardDecoder,
  VscardFramer,
  decodeMessage,
  encodeMessage,
  validateClientFrame,
  type VscardFrame,
  type VscardMessage,
} from '../src/index.ts';
import {
  clientConnections,
  concat,
  hex,
  loadVectors,
  prng,
  randomSplit,
  toHex,
  type Connection,
} from './vectors.ts';
import { codeOf } from './error-code.ts';

const vectors = loadVectors();

/**
 * Client messages that are deliberately malformed in the vectors (QEMU tolerates them, a
 * strict decoder cannot represent them): s04's Init with an empty payload, s10's Flush and
 * FlushComplete with a 2-byte payload, s10's CardRemove with a 3-byte payload.
 */
const MALFORMED_CLIENT_MESSAGES = new Set([
  '000000010000000000000000',
  '000000080000004200000002aabb',
  '000000090000004200000002aabb',
  '000000060000000000000003010203',
]);

interface ReplayResult {
  frames: VscardFrame[];
  errorAt?: { write: number; code: string };
  laterCodes: string[];
  finishCode?: string;
}

function replay(writes: readonly Uint8Array[]): ReplayResult {
  const framer = new VscardFramer();
  const frames: VscardFrame[] = [];
  const result: ReplayResult = { frames, laterCodes: [] };
  writes.forEach((w, i) => {
    const code = codeOf(() => frames.push(...framer.push(w)));
    if (code !== undefined) {
      if (result.errorAt) result.laterCodes.push(code);
      else result.errorAt = { write: i, code };
    }
  });
  const finishCode = codeOf(() => framer.finish());
  if (finishCode !== undefined) result.finishCode = finishCode;
  return result;
}

/** Re-split all writes of a connection, up to (excluding) the failing write. */
function resplits(conn: Connection): { label: string; writes: Uint8Array[] }[] {
  const good = conn.error ? conn.writes.slice(0, conn.error.atWrite) : conn.writes;
  const stream = concat(good);
  const bytewise = Array.from(stream, (b) => Uint8Array.of(b));
  const out = [
    { label: 'as written', writes: good },
    { label: 'whole', writes: [stream] },
    { label: 'one byte at a time', writes: bytewise },
  ];
  for (const seed of [1, 2, 3]) {
    out.push({ label: `random split ${seed}`, writes: randomSplit(stream, prng(seed)) });
  }
  return out;
}

function reencodeClient(bytes: Uint8Array): VscardMessage | 'malformed' {
  if (MALFORMED_CLIENT_MESSAGES.has(toHex(bytes))) {
    expect(codeOf(() => decodeMessage(bytes, { errorCodeByteOrder: 'le' }))).toBe(
      'VSCARD_BAD_PAYLOAD',
    );
    return 'malformed';
  }
  const msg = decodeMessage(bytes, { errorCodeByteOrder: 'le' });
  expect(toHex(encodeMessage(msg))).toBe(toHex(bytes));
  return msg;
}

describe.each(vectors.map((v) => [v.name, v] as const))('vector %s', (_name, v) => {
  it('has steps', () => {
    expect(v.steps.length).toBeGreaterThan(0);
  });

  const conns = clientConnections(v);
  conns.forEach((conn, ci) => {
    if (conn.writes.length === 0) return;
    it(`client connection ${ci}: framing is independent of the split`, () => {
      const reference = replay(conn.writes);
      if (conn.error) {
        expect(reference.errorAt).toEqual({ write: conn.error.atWrite, code: conn.error.code });
        // The framer stays failed: every later push and finish() throws.
        const later = conn.writes.length - conn.error.atWrite - 1;
        expect(reference.laterCodes).toEqual(Array(later).fill('VSCARD_DECODER_FAILED'));
        expect(reference.finishCode).toBe('VSCARD_DECODER_FAILED');
      } else {
        expect(reference.errorAt).toBeUndefined();
        expect(reference.finishCode).toBe(conn.isTruncated ? 'VSCARD_TRUNCATED' : undefined);
      }
      const expected = reference.frames.map((f) => toHex(f.bytes));
      // The frames are exactly the stream (minus a truncated tail / the failing write).
      const good = conn.error ? conn.writes.slice(0, conn.error.atWrite) : conn.writes;
      const stream = toHex(concat(good));
      if (conn.isTruncated) expect(stream.startsWith(expected.join(''))).toBe(true);
      else expect(expected.join('')).toBe(stream);
      for (const { label, writes } of resplits(conn)) {
        const r = replay(writes);
        expect(
          r.frames.map((f) => toHex(f.bytes)),
          label,
        ).toEqual(expected);
        expect(r.errorAt, label).toBeUndefined();
      }
      for (const f of reference.frames) {
        expect(f.length).toBe(f.bytes.length - 12);
      }
    });

    it(`client connection ${ci}: every message re-encodes byte-exactly and meets the relay check`, () => {
      const { frames } = replay(conn.writes);
      for (const f of frames) {
        const msg = reencodeClient(f.bytes);
        const relayCode = codeOf(() => validateClientFrame(f.bytes));
        if (f.type >= 1 && f.type <= 7) expect(relayCode).toBeUndefined();
        else if (f.type === 8 || f.type === 9) expect(relayCode).toBe('VSCARD_UNEXPECTED_TYPE');
        else {
          expect(relayCode).toBe('VSCARD_UNKNOWN_TYPE');
          expect(msg !== 'malformed' && msg.type).toBe('Unknown');
        }
      }
    });
  });

  const h2c = v.steps.filter((s) => s.dir === 'h2c').map((s) => hex(s.hex));
  if (h2c.length > 0) {
    it('host messages decode, re-encode byte-exactly and look like QEMU', () => {
      for (const bytes of h2c) {
        const msg = decodeMessage(bytes);
        expect(toHex(encodeMessage(msg, { errorCodeByteOrder: 'be' }))).toBe(toHex(bytes));
        // QEMU only ever sends Init, Error (0 or 1) and APDU (§3).
        expect(['Init', 'Error', 'APDU']).toContain(msg.type);
        if (msg.type === 'Error') expect([0, 1]).toContain(msg.code);
        if (msg.type === 'Init') {
          expect(msg.readerId).toBe(0xffffffff);
          expect(toHex(msg.magic)).toBe('56534344');
          expect(msg.version).toBe(2);
          expect(msg.capabilities).toEqual([0]);
        }
        if (msg.type === 'APDU') expect(msg.readerId).toBe(0);
      }
    });

    it('host stream decodes the same whole, byte by byte and in random splits', () => {
      const stream = concat(h2c);
      const expected = h2c.map((b) => decodeMessage(b));
      const splits = [
        [stream],
        Array.from(stream, (b) => Uint8Array.of(b)),
        randomSplit(stream, prng(7)),
        randomSplit(stream, prng(8), 5),
      ];
      for (const writes of splits) {
        const d = new VscardDecoder();
        const got = writes.flatMap((w) => d.push(w));
        d.finish();
        expect(got).toEqual(expected);
        expect(d.state).toBe('header');
      }
    });
  }
});

describe('vector semantics', () => {
  it('the error-code byte order of client Errors matches §2.5 (g04 sends LE 6; s09 sends BE and LE 1)', () => {
    const g04 = vectors.find((v) => v.name === 'g04_pending_then_events');
    const err = g04?.steps.find((s) => s.dir === 'c2h' && s.hex.startsWith('00000002'));
    expect(err).toBeDefined();
    const m = decodeMessage(hex(err?.hex ?? ''), { errorCodeByteOrder: 'le' });
    expect(m).toEqual({ type: 'Error', readerId: 0, code: 6 });
    const s09 = vectors.find((v) => v.name === 's09_apdu_and_error_without_guest');
    const codes = (s09?.steps ?? [])
      .filter((s) => s.dir === 'c2h' && s.hex.startsWith('00000002'))
      .map((s) => decodeMessage(hex(s.hex), { errorCodeByteOrder: 'le' }));
    expect(codes).toEqual([
      { type: 'Error', readerId: 0, code: 0x01000000 },
      { type: 'Error', readerId: 0, code: 1 },
    ]);
  });

  it('s12 coalesced write yields the six messages in order', () => {
    const s12 = vectors.find((v) => v.name === 's12_coalesced');
    const write = hex(s12?.steps[0]?.hex ?? '');
    const frames = new VscardFramer().push(write);
    expect(frames.map((f) => f.type)).toEqual([1, 3, 5, 0x63, 6, 4]);
    // Whole messages inside one chunk are views of it (no copy).
    for (const f of frames) expect(f.bytes.buffer).toBe(write.buffer);
  });
});
