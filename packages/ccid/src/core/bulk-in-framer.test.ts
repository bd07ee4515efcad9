import { describe, expect, it } from 'vitest';
import { concatBytes, toHex } from './bytes.ts';
import { BulkInFramer } from './bulk-in-framer.ts';
import { encodeResponse } from './messages.ts';

const PKT = 16;
/** A DataBlock with `n` data bytes (46 bytes for n = 36, as in ccid.md §16.2). */
const block = (seq: number, n: number): Uint8Array =>
  encodeResponse({
    type: 'DataBlock',
    slot: 0,
    seq,
    data: new Uint8Array(n).map((_, i) => (i * 7 + seq) & 0xff),
  });
const status = (seq: number): Uint8Array => encodeResponse({ type: 'SlotStatus', slot: 0, seq });
const A = block(1, 36); // 46 bytes = 32 + 14
const B = block(2, 2); // 12 bytes
const S = status(1); // 10 bytes

type Step = Uint8Array | 'discard';
/** Runs steps through a fresh framer; returns what came out, messages as hex, drops as reason:length. */
function run(steps: Step[]): string[] {
  const f = new BulkInFramer({ packetSize: PKT, maxMessageBytes: 300 });
  const out: string[] = [];
  for (const s of steps)
    for (const r of s === 'discard' ? f.discardPartial() : f.push(s))
      out.push(r.type === 'message' ? toHex(r.bytes) : `${r.reason}:${r.bytes.length}`);
  return out;
}

const cases: [string, Step[], (string | Uint8Array)[]][] = [
  ['one completion, one message', [A], [A]],
  ['full packets, then the rest (ccid.md §16.2)', [A.subarray(0, 32), A.subarray(32)], [A]],
  ['two messages in one completion', [concatBytes([B, S])], [B, S]],
  ['ZLPs between messages are skipped', [new Uint8Array(0), B, new Uint8Array(0), S], [B, S]],
  [
    'a short packet ends a transfer: the cut message is dropped',
    [A.subarray(0, 40), B],
    ['cut:40', B],
  ],
  [
    'a ZLP after whole packets ends a cut transfer',
    [A.subarray(0, 32), new Uint8Array(0), B],
    ['cut:32', B],
  ],
  [
    'a complete message followed by a cut one in the same transfer',
    [concatBytes([B, A.subarray(0, 21)]), S],
    [B, 'cut:21', S],
  ],
  [
    'cut at a packet boundary, timeout: the next whole message is taken (issue 11 §2)',
    [A.subarray(0, 32), 'discard', S, B],
    ['discarded:32', S, B],
  ],
  [
    'after a discard the late rest of the cut message is dropped, then sync again',
    [A.subarray(0, 32), 'discard', A.subarray(32), S],
    ['discarded:32', 'resync:14', S],
  ],
  [
    'after a discard a whole message split over two completions is taken',
    [A.subarray(0, 16), 'discard', A.subarray(0, 32), A.subarray(32)],
    ['discarded:16', A],
  ],
  ['discard with nothing buffered does nothing', ['discard', B], [B]],
  [
    'unknown message type: dropped up to the end of the transfer',
    [Uint8Array.of(0x6f, ...S.subarray(1)), B],
    ['bad-header:10', B],
  ],
  [
    'bad header in whole packets: the rest of that transfer is dropped too',
    [new Uint8Array(16).fill(0x55), new Uint8Array(5).fill(0x81), B],
    ['bad-header:16', 'resync:5', B],
  ],
  [
    'dwLength above the limit',
    [Uint8Array.of(0x80, 0xff, 0xff, 0, 0, 0, 1, 0, 0, 0), S],
    ['bad-header:10', S],
  ],
];

describe('BulkInFramer: reassembly and resynchronisation', () => {
  for (const [name, steps, expected] of cases)
    it(name, () =>
      expect(run(steps)).toEqual(expected.map((e) => (typeof e === 'string' ? e : toHex(e)))),
    );
});

describe('messages handed out', () => {
  it('keep their bytes whatever is pushed after them, whole or joined from completions', () => {
    const f = new BulkInFramer({ packetSize: PKT, maxMessageBytes: 300 });
    const joined = f.push(A.subarray(0, 32)).concat(f.push(A.subarray(32)));
    const whole = f.push(concatBytes([B, S]));
    f.push(block(3, 20).subarray(0, 16));
    f.push(block(4, 1));
    expect(joined.map((m) => m.type === 'message' && toHex(m.bytes))).toEqual([toHex(A)]);
    expect(whole.map((m) => m.type === 'message' && toHex(m.bytes))).toEqual([toHex(B), toHex(S)]);
  });

  it('a completion that is one whole message is handed out as it is, not copied', () => {
    const f = new BulkInFramer({ packetSize: PKT, maxMessageBytes: 300 });
    const completion = B.slice();
    expect(f.push(completion)).toEqual([{ type: 'message', bytes: completion }]);
    expect((f.push(S)[0] as { bytes: Uint8Array }).bytes).toBe(S);
  });
});
