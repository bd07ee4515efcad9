/**
 * The pure model of QEMU's VSCard reader (`QemuInputBuffer`, @cardlend/vscard) against real
 * QEMU 7.2 and 10.0 on random message sequences cut at random points: each piece (1–4 096
 * bytes) is written only after QEMU has read the previous one (its socket's receive queue is
 * empty), so each piece is exactly one QEMU read — reads that end anywhere, as in the model.
 * QEMU must answer exactly the messages the model says it handles, leave exactly the predicted
 * bytes unread, and hold exactly the model's registers — through buffer creep and wedges.
 */
import { QemuInputBuffer, VSC, encodeMessage } from '@cardlend/vscard';
import { afterAll, describe, expect, it } from 'vitest';
import type { QemuVersion } from '../src/index.ts';
import { readPassthruRegisters } from './helpers/passthru-state.ts';
import { qemuPerTest } from './helpers/qemu-per-test.ts';
import { waitForUnread } from './helpers/socket-queue.ts';

/** Deterministic PRNG (mulberry32); the seed is in the test name. */
function prng(seed: number): (n: number) => number {
  let a = seed >>> 0;
  return (n) => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return Math.floor((((t ^ (t >>> 14)) >>> 0) / 4294967296) * n);
  };
}

/** Types that QEMU answers (one reply each) and that leave the guest alone. */
const ANSWERED = [VSC.Init, VSC.ReaderAdd, VSC.CardRemove, 0x63];

function message(type: number, length: number): Uint8Array {
  if (type === VSC.Init)
    return encodeMessage(
      {
        type: 'Unknown',
        code: VSC.Init,
        readerId: 0,
        payload: Uint8Array.of(
          0x56,
          0x53,
          0x43,
          0x44,
          0,
          0,
          0,
          2,
          ...new Array<number>(4 * Math.floor(length / 4)).fill(0),
        ),
      },
      { maxPayloadBytes: 1 << 20 },
    );
  return encodeMessage(
    { type: 'Unknown', code: type, readerId: 0, payload: new Uint8Array(length).fill(0x42) },
    { maxPayloadBytes: 1 << 20 },
  );
}

/**
 * A random sequence of 20–140 kB: mostly small messages, some large ones; `ends` are the
 * offsets where messages end.
 */
function sequence(seed: number): { bytes: Uint8Array; ends: number[] } {
  const rnd = prng(seed);
  const limit = 20_000 + rnd(120_000);
  const parts: Uint8Array[] = [];
  const ends: number[] = [];
  let total = 0;
  for (;;) {
    const pick = rnd(10);
    const type =
      pick < 7 ? (ANSWERED[rnd(ANSWERED.length)] as number) : pick < 9 ? VSC.APDU : VSC.Error;
    const size = rnd(8);
    let length = size < 5 ? rnd(300) : size < 7 ? 1000 + rnd(8000) : 20_000 + rnd(45_525);
    if (type === VSC.Error) length = 4;
    if (type === VSC.CardRemove) length = 0;
    const m = message(type, length);
    if (total + m.length > limit) break;
    parts.push(m);
    total += m.length;
    ends.push(total);
  }
  const bytes = new Uint8Array(total);
  let o = 0;
  for (const p of parts) {
    bytes.set(p, o);
    o += p.length;
  }
  return { bytes, ends };
}

/**
 * Cuts the sequence into pieces of 1–4 096 bytes, 10–80 % of them (per seed) ending on a
 * message boundary when one is in reach (with reads ending anywhere, QEMU's buffer creeps
 * shut almost every time), and feeds them to the model.
 */
function plan(
  { bytes, ends }: { bytes: Uint8Array; ends: number[] },
  seed: number,
): { pieces: { bytes: Uint8Array; unread: number }[]; model: QemuInputBuffer; replies: number } {
  const rnd = prng(seed ^ 0x5eed);
  const boundaryBias = 1 + rnd(8); // out of 10
  const model = new QemuInputBuffer();
  const pieces: { bytes: Uint8Array; unread: number }[] = [];
  let replies = 0;
  let off = 0;
  while (off < bytes.length) {
    const boundary = ends.find((e) => e > off) ?? bytes.length;
    const size =
      rnd(10) < boundaryBias && boundary - off <= 4096
        ? boundary - off
        : 1 + rnd(rnd(2) === 0 ? 4096 : 200);
    const piece = bytes.subarray(off, off + size);
    off += piece.length;
    const taken = Math.min(piece.length, model.maxReadBytes);
    if (taken > 0) {
      for (const m of model.read(piece.subarray(0, taken))) {
        if (m.type !== VSC.APDU && m.type !== VSC.Error) replies++;
      }
    }
    pieces.push({ bytes: piece, unread: piece.length - taken });
    if (taken < piece.length) break; // wedged: QEMU reads nothing more
  }
  return { pieces, model, replies };
}

/** Seeds whose sequences QEMU digests (0–3) and whose sequences wedge it (4, 6, 20, 30). */
const SEEDS = [0, 1, 2, 3, 4, 6, 20, 30];

describe.each<QemuVersion>(['7.2', '10.0'])('QEMU %s reads as the model predicts', (version) => {
  const perTest = qemuPerTest(version);
  const outcomes = new Set<string>();

  afterAll(() => {
    // The seeds cover every outcome.
    expect([...outcomes].sort()).toEqual(['ok', 'wedged']);
  });

  it.each(SEEDS)(
    'random sequence and read boundaries, seed %i',
    async (seed) => {
      const { pieces, model, replies } = plan(sequence(seed), seed);
      const qemu = await perTest.start();
      const client = await perTest.connect();
      for (const piece of pieces) {
        client.write(piece.bytes);
        await waitForUnread(qemu.port, client, piece.unread);
      }
      for (let i = 0; i < replies; i++) await client.next(5000);
      const regs = await readPassthruRegisters(qemu);
      expect({ pos: regs.pos, hdr: regs.hdr }).toEqual(model.registers);
      expect(client.pending).toBe(0); // no reply beyond the predicted ones
      outcomes.add(model.status);
    },
    60_000,
  );
});
