/**
 * QemuPassthruModel against QEMU 7.2's recorded answers: every golden vector whose client bytes
 * are given in full is replayed through the model, which must produce exactly the messages
 * QEMU sent (vscard-protocol.md §3, §5; vectors s01–s12, s16, s17, s19–s21, s23, s24).
 */
import { describe, expect, it } from 'vitest';
import { QemuPassthruModel, qemuReadsAllAtOnce, encodeMessage } from '../src/index.ts';
import { concat, hex, loadVectors, toHex } from './vectors.ts';

/**
 * Vectors whose steps stand for larger blobs (s13–s15), involve a device re-creation (s22), or
 * list only one of two identical client writes (s18: the second client's Init is in the notes).
 */
const NOT_REPLAYABLE = new Set([
  's13_huge_length',
  's14_max_message',
  's15_buffer_creep',
  's18_second_client',
  's22_recovery_device_readd',
]);

const replayable = loadVectors().filter(
  (v) => v.name.startsWith('s') && !NOT_REPLAYABLE.has(v.name),
);

describe('QemuPassthruModel replays the QEMU 7.2 vectors', () => {
  it('has vectors to replay', () => {
    expect(replayable.length).toBeGreaterThanOrEqual(19);
  });

  it.each(replayable.map((v) => [v.name, v] as const))('%s', (_name, v) => {
    const dev = new QemuPassthruModel();
    // An Init QEMU sends before any client byte is the device's unsolicited one (s19, s21, s24).
    const firstClient = v.steps.findIndex((s) => s.dir === 'c2h');
    const expected = v.steps
      .slice(firstClient)
      .filter((s) => s.dir === 'h2c')
      .map((s) => s.hex);
    const stream = concat(v.steps.filter((s) => s.dir === 'c2h').map((s) => hex(s.hex)));
    const replies: string[] = [];
    let off = 0;
    while (off < stream.length && dev.input.maxReadBytes > 0) {
      const take = Math.min(dev.input.maxReadBytes, stream.length - off);
      for (const e of dev.read(stream.subarray(off, off + take))) {
        if (e.kind === 'reply') replies.push(toHex(e.bytes));
      }
      off += take;
    }
    expect(replies).toEqual(expected);
  });

  it('s16: a stale partial message glues onto the next client and dooms the stream', () => {
    const dev = new QemuPassthruModel();
    dev.read(hex('00000007000000000000000a00a40400'));
    const init = encodeMessage({
      type: 'Init',
      readerId: 0,
      magic: Uint8Array.of(0x56, 0x53, 0x43, 0x44),
      version: 2,
      capabilities: [0],
    });
    expect(qemuReadsAllAtOnce(dev.input, concat([init, init])).messages).toHaveLength(1);
    expect(dev.input.status).toBe('doomed');
  });

  it('keeps the guest FIFO: answers go to the oldest command, ATR flushes, ReaderRemove drops', () => {
    const dev = new QemuPassthruModel();
    expect(dev.guestCommand(Uint8Array.of(1)).kind).toBe('answered-by-qemu');
    dev.read(encodeMessage({ type: 'ATR', readerId: 0, atr: Uint8Array.of(0x3b, 0x00) }));
    const a = dev.guestCommand(Uint8Array.of(1));
    const b = dev.guestCommand(Uint8Array.of(2));
    expect([a.kind, b.kind]).toEqual(['forwarded', 'forwarded']);
    const answer = dev.read(
      encodeMessage({ type: 'APDU', readerId: 0, apdu: Uint8Array.of(0x90, 0) }),
    );
    expect(answer).toMatchObject([{ kind: 'guest-answer', id: 1, answer: { kind: 'data' } }]);
    const lost = dev.read(encodeMessage({ type: 'APDU', readerId: 0, apdu: new Uint8Array(375) }));
    expect(lost).toMatchObject([{ kind: 'guest-answer', id: 2, answer: { kind: 'lost' } }]);
    dev.guestCommand(Uint8Array.of(3));
    const flushed = dev.read(encodeMessage({ type: 'CardRemove', readerId: 0 }));
    expect(flushed.map((e) => e.kind)).toEqual(['guest-answer', 'reply']);
    expect(dev.isCardPresent).toBe(false);
    expect(dev.read(encodeMessage({ type: 'Error', readerId: 0, code: 1 }))).toEqual([
      { kind: 'answer-dropped', type: 2 },
    ]);
  });

  it('aborts on the 129th waiting guest command (g10)', () => {
    const dev = new QemuPassthruModel();
    dev.read(encodeMessage({ type: 'ATR', readerId: 0, atr: Uint8Array.of(0x3b, 0x00) }));
    for (let i = 0; i < 128; i++) expect(dev.guestCommand(Uint8Array.of(i)).kind).toBe('forwarded');
    expect(dev.guestCommand(Uint8Array.of(0)).kind).toBe('abort');
  });
});
