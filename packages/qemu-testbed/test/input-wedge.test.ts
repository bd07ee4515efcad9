/**
 * Issue 11 §1 on real QEMU 7.2 and 10.0: what wedges `ccid-card-passthru`'s 64 KiB input
 * buffer, checked against the pure model (`QemuInputBuffer` in @cardlend/vscard) down to QEMU's
 * own registers (read from its saved device state), and the same attacks through the
 * ForwardGuard, after which QEMU still serves a fresh session.
 */
import {
  QemuInputBuffer,
  RelayClose,
  clientInit,
  encodeMessage,
  qemuReadsAllAtOnce,
  type ToVmDecision,
} from '@cardlend/vscard';
import { describe, expect, it } from 'vitest';
import { RAW_INIT_PAYLOAD, RAW_VSC, toHex } from '../src/index.ts';
import type { QemuHandle, QemuVersion, RawVscardClient } from '../src/index.ts';
import { GuardedClient } from './helpers/guarded-client.ts';
import { readPassthruRegisters } from './helpers/passthru-state.ts';
import { qemuPerTest } from './helpers/qemu-per-test.ts';
import { waitForUnread } from './helpers/socket-queue.ts';

const READER_ADD = encodeMessage({ type: 'ReaderAdd', readerId: 0, name: '' });
const BIG_APDU = encodeMessage({ type: 'APDU', readerId: 0, apdu: new Uint8Array(65524) });
const INIT = encodeMessage(clientInit());
/** 100 bytes, a type QEMU answers with Error 1: 4 096-byte reads never end on its boundaries. */
const SMALL = encodeMessage(
  { type: 'Unknown', code: 0x63, readerId: 0, payload: new Uint8Array(88).fill(0x11) },
  { maxPayloadBytes: 88 },
);
const FLOOD = 700;
/** Long enough that a served message would have been answered many times over. */
const SILENCE_MS = 1500;

/** One buffer of all `parts` (what QEMU finds waiting when they are written back to back). */
const concat = (parts: Uint8Array[]): Uint8Array => Buffer.concat(parts);

/** The model's prediction for bytes QEMU finds waiting all at once. */
function predict(bytes: Uint8Array): {
  handled: number;
  status: string;
  pos: number;
  hdr: number;
  unread: number;
} {
  const model = new QemuInputBuffer();
  const { messages, unread } = qemuReadsAllAtOnce(model, bytes);
  return { handled: messages.length, status: model.status, ...model.registers, unread };
}

/** Runs `body` while the QEMU process is stopped (SIGSTOP … SIGCONT): QEMU "briefly busy". */
async function whileStopped(qemu: QemuHandle, body: () => Promise<void>): Promise<void> {
  process.kill(qemu.pid, 'SIGSTOP');
  try {
    await body();
  } finally {
    process.kill(qemu.pid, 'SIGCONT');
  }
}

async function until(condition: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 5));
  }
}

async function expectAnswered(client: RawVscardClient): Promise<void> {
  client.send(RAW_VSC.Init, 0, RAW_INIT_PAYLOAD);
  expect((await client.next(5000)).type).toBe(RAW_VSC.Init);
}

describe.each<QemuVersion>(['7.2', '10.0'])('QEMU %s input buffer', (version) => {
  const perTest = qemuPerTest(version);
  const connect = (): Promise<RawVscardClient> => perTest.connect();
  /** A fresh session gets no answer, and QEMU's own registers are exactly the model's. */
  async function expectWedgedAsPredicted(
    qemu: QemuHandle,
    expected: { pos: number; hdr: number },
  ): Promise<void> {
    const fresh = await connect();
    fresh.write(INIT);
    expect(await fresh.expectSilence(SILENCE_MS)).toBe(true);
    const regs = await readPassthruRegisters(qemu);
    expect({ pos: regs.pos, hdr: regs.hdr }).toEqual({ pos: expected.pos, hdr: expected.hdr });
  }

  it('ReaderAdd + a back-to-back 65 524-byte APDU wedge it as the model predicts; a fresh session gets nothing', async () => {
    const expected = predict(concat([READER_ADD, BIG_APDU]));
    expect(expected).toEqual({ handled: 1, status: 'wedged', pos: 65536, hdr: 12, unread: 12 });
    const qemu = await perTest.start();
    const attacker = await connect();
    // QEMU briefly busy (stopped) while both messages are written, as two separate writes.
    await whileStopped(qemu, async () => {
      attacker.write(READER_ADD);
      attacker.write(BIG_APDU);
      await until(() => attacker.socket.writableLength === 0);
    });
    expect(toHex((await attacker.next(5000)).payload)).toBe('00000000'); // ReaderAdd's ack
    // QEMU stops reading with the APDU's last 12 bytes still in its socket.
    await waitForUnread(qemu.port, attacker, expected.unread);
    attacker.write(INIT);
    expect(await attacker.expectSilence(SILENCE_MS)).toBe(true);
    await expectWedgedAsPredicted(qemu, expected);
  }, 60_000);

  it('a pipelined flood of small messages creeps the buffer shut after exactly the predicted answers', async () => {
    const stream = concat(Array.from({ length: FLOOD }, () => SMALL));
    const expected = predict(stream);
    expect(expected).toMatchObject({ handled: 655, status: 'wedged', pos: 65536, unread: 4464 });
    const qemu = await perTest.start();
    const attacker = await connect();
    attacker.write(stream);
    for (let i = 0; i < expected.handled; i++) {
      expect(toHex((await attacker.next(5000)).payload)).toBe('00000001');
    }
    await waitForUnread(qemu.port, attacker, expected.unread);
    expect(await attacker.expectSilence(SILENCE_MS)).toBe(true); // 45 messages never answered
    await expectWedgedAsPredicted(qemu, expected);
  }, 60_000);

  it('through the guard the big APDU is refused; QEMU serves a fresh session', async () => {
    const qemu = await perTest.start();
    const attacker = await GuardedClient.connect(qemu.port);
    perTest.track(attacker.raw);
    let refused: ToVmDecision | undefined;
    await whileStopped(qemu, () => {
      expect(attacker.send(READER_ADD).action).toBe('forward');
      refused = attacker.send(BIG_APDU);
      return until(() => attacker.raw.socket.writableLength === 0);
    });
    expect(refused).toMatchObject({
      action: 'refuse',
      closeCode: RelayClose.PROTOCOL_VIOLATION,
      rule: 'too-long',
    });
    expect(toHex((await attacker.next()).payload)).toBe('00000000');
    // The relay's cleanup after a refusal, through the same guard.
    attacker.send(encodeMessage({ type: 'CardRemove', readerId: 0 }), 'relay');
    attacker.send(encodeMessage({ type: 'ReaderRemove', readerId: 0 }), 'relay');
    await attacker.raw.end();
    await expectAnswered(await connect());
    const regs = await readPassthruRegisters(qemu);
    expect({ pos: regs.pos, hdr: regs.hdr }).toEqual({ pos: 0, hdr: 0 });
  }, 60_000);

  it('through the guard a pipelined flood is refused at its second message; sent one reply at a time, all of it is served', async () => {
    const qemu = await perTest.start();
    const named = encodeMessage({ type: 'ReaderAdd', readerId: 0, name: 'r'.repeat(88) });
    const flooder = await GuardedClient.connect(qemu.port);
    perTest.track(flooder.raw);
    expect(flooder.send(named).action).toBe('forward');
    expect(flooder.send(named)).toMatchObject({ action: 'refuse', rule: 'control-in-flight' });
    await flooder.raw.end();
    // A client that waits whenever the guard says so: 700 messages, 700 answers, no wedge.
    const patient = await GuardedClient.connect(qemu.port);
    perTest.track(patient.raw);
    let answers = 0;
    for (let i = 0; i < FLOOD; i++) {
      while (patient.send(named).action === 'refuse') {
        await patient.next();
        answers++;
      }
    }
    while (answers < FLOOD) {
      await patient.next();
      answers++;
    }
    expect(answers).toBe(FLOOD);
    await patient.raw.end();
    await expectAnswered(await connect());
    const regs = await readPassthruRegisters(qemu);
    expect({ pos: regs.pos, hdr: regs.hdr }).toEqual({ pos: 0, hdr: 0 });
  }, 60_000);
});
