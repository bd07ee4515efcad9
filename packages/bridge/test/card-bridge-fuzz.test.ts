/**
 * Whatever the relay sends, the bridge never throws, never sends an answer QEMU 7.2 would
 * drop, only sends valid client messages, and still stops cleanly (style guide §6, properties).
 */
import { decodeMessage, encodeMessage, validateClientFrame } from '@cardlend/vscard';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { toHex } from '../src/apdu-log.ts';
import { CardBridge } from '../src/card-bridge.ts';
import { LongAnswerSplitter } from '../src/long-answer.ts';
import type { BridgeState } from '../src/card-bridge.ts';
import { CAC_T0_ATR, makeCard } from './helpers/cards.ts';
import { memoryBridge } from './helpers/memory-bridge.ts';
import { MemorySocket } from './helpers/memory-socket.ts';
import { ScriptedReader } from './helpers/scripted-reader.ts';

const settle = (): Promise<void> => new Promise((r) => setTimeout(r, 0));

const apduFrame = fc
  .oneof(
    fc.uint8Array({ minLength: 0, maxLength: 300 }),
    fc.constantFrom(
      Uint8Array.of(0x00, 0xb0, 0x00, 0x00, 0x00, 0x00, 0x00), // READ BINARY, 1000-byte answer → 61xx
      Uint8Array.of(0x00, 0xc0, 0x00, 0x00, 0x00), // GET RESPONSE
      Uint8Array.of(0x00, 0x20, 0x00, 0x80, 0x08, 0x31, 0x32, 0x33, 0x34, 0x35, 0x36, 0xff, 0xff),
    ),
  )
  .map((apdu) => encodeMessage({ type: 'APDU', readerId: 0, apdu }));

const hostFrame = fc.oneof(
  { weight: 5, arbitrary: apduFrame },
  { weight: 1, arbitrary: fc.uint8Array({ minLength: 0, maxLength: 40 }) }, // garbage
  {
    weight: 1,
    arbitrary: fc
      .integer({ min: 0, max: 3 })
      .map((code) =>
        encodeMessage({ type: 'Error', readerId: 0, code }, { errorCodeByteOrder: 'be' }),
      ),
  },
  { weight: 1, arbitrary: fc.constant(encodeMessage({ type: 'Flush', readerId: 0 })) },
  {
    weight: 1,
    arbitrary: fc
      .integer({ min: 10, max: 0xffff })
      .map((type) => Uint8Array.of(0, 0, type >> 8, type & 0xff, 0, 0, 0, 0, 0, 0, 0, 0)),
  },
);

describe('CardBridge under arbitrary relay traffic', () => {
  it('stays well-behaved', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(hostFrame, { maxLength: 25 }),
        fc.boolean(),
        async (frames, isCardIn) => {
          const reader = new ScriptedReader();
          if (isCardIn) reader.card = makeCard({ atr: CAC_T0_ATR, protocol: 0 });
          const sockets: MemorySocket[] = [];
          const bridge = new CardBridge({
            reader,
            relayUrl: 'ws://relay.test',
            createWebSocket: () => {
              const s = new MemorySocket();
              sockets.push(s);
              queueMicrotask(() => s.open());
              return s;
            },
            reconnect: { initialDelayMs: 1, maxDelayMs: 2, maxAttempts: 1 },
            stopTimeoutMs: 50,
          });
          const states: BridgeState[] = [];
          bridge.onState((s) => states.push(s));
          await bridge.start();
          await settle();
          const socket = sockets[0];
          if (socket === undefined) throw new Error('no socket');
          for (const f of frames) {
            socket.deliver(f);
            await settle();
          }
          await bridge.stop();
          expect(['stopped', 'failed']).toContain(bridge.state.link);
          expect(reader.listenerCount).toBe(0);
          for (const s of sockets) {
            for (const frame of s.sent) {
              const v = validateClientFrame(frame); // throws on anything QEMU would not take
              if (v.type === 7) expect(v.length).toBeLessThanOrEqual(374);
            }
          }
          expect(JSON.stringify(states)).not.toContain('"link":"reconnecting"'); // garbage is final, never retried
        },
      ),
      { numRuns: 60 },
    );
  });

  it('answers every guest command exactly once, in order, within 374 bytes', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(apduFrame, { minLength: 1, maxLength: 30 }),
        fc.boolean(),
        async (frames, isBurst) => {
          const { bridge, socket, reader } = memoryBridge();
          let answered = 0;
          bridge.onApdu(() => answered++);
          await bridge.start();
          for (let i = 0; i < 50 && bridge.state.card?.vmStatus !== 'accepted'; i++) await settle();
          expect(bridge.state.card?.vmStatus).toBe('accepted');
          const sentBefore = socket.sent.length;
          for (const f of frames) {
            socket.deliver(f);
            if (!isBurst) await settle();
          }
          for (let i = 0; i < 100 && answered < frames.length; i++) await settle();
          const answers = socket.sent.slice(sentBefore).map((f) => validateClientFrame(f));
          expect(answers).toHaveLength(frames.length);
          expect(answers.every((a) => a.type === 7 && a.length <= 374)).toBe(true);
          // Model: the same card behind a LongAnswerSplitter, command by command, in order.
          const modelCard = makeCard({ atr: CAC_T0_ATR, protocol: 0 });
          const splitter = new LongAnswerSplitter();
          const expected = frames.map((f) => {
            const apdu = decodeMessage(f);
            if (apdu.type !== 'APDU') throw new Error('not an APDU');
            const d = splitter.handleCommand(apdu.apdu);
            return toHex(
              d.kind === 'serve' ? d.answer : splitter.handleAnswer(modelCard.process(apdu.apdu)),
            );
          });
          expect(answers.map((a) => toHex(a.bytes.subarray(12)))).toEqual(expected);
          expect(reader.transmitted.length).toBeLessThanOrEqual(frames.length);
          await bridge.stop();
        },
      ),
      { numRuns: 60 },
    );
  });
});
