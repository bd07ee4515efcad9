/**
 * Model-based property test of VscardClientSession against a model of QEMU 7.2
 * (vscard-protocol.md §3, §4): both directions have messages in flight, the guest issues
 * commands at random moments, the card answers in random order, and the user inserts and
 * removes the card and the reader. QEMU's FIFO correlation must never pair an answer with
 * the wrong guest command (rule 5), and every guest command must be settled exactly once.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  VscardClientSession,
  decodeMessage,
  type SessionAction,
  type VscardMessage,
} from '../src/index.ts';
import { arbUserStep, doUserStep } from './user-steps.ts';

/** Steps the scheduler can take, weighted (deliveries are the most frequent). */
const arbStep = fc.oneof(
  { arbitrary: fc.constant('deliverToClient' as const), weight: 12 },
  { arbitrary: fc.constant('deliverToHost' as const), weight: 12 },
  { arbitrary: fc.constant('guestCommand' as const), weight: 6 },
  { arbitrary: fc.constant('cardAnswers' as const), weight: 6 },
  { arbitrary: arbUserStep, weight: 3 },
);

class QemuModel {
  /** Bytes the host has sent, not yet read by the client. */
  readonly toClient: VscardMessage[] = [];
  isCardPresent = false;
  /** Outstanding guest commands (ids), oldest first; at most 128 in QEMU. */
  readonly fifo: number[] = [];
  /** How each guest command ended. */
  readonly settled = new Map<number, 'answered' | 'flushed' | 'dropped'>();
  nextCommand = 1;
  errorsReceived = 0;

  guestCommand(): void {
    if (!this.isCardPresent || this.fifo.length >= 100) return;
    const id = this.nextCommand++;
    this.fifo.push(id);
    const apdu = Uint8Array.of(0x80, 0x10, id >> 8, id & 0xff, 0x00);
    this.toClient.push({ type: 'APDU', readerId: 0, apdu });
  }

  /** QEMU processing one client message (§3 table). */
  receive(bytes: Uint8Array): void {
    const m = decodeMessage(bytes, { errorCodeByteOrder: 'le' });
    const ack = (code = 0, readerId = m.readerId): void => {
      this.toClient.push({ type: 'Error', readerId, code });
    };
    const flush = (how: 'flushed' | 'dropped'): void => {
      for (const id of this.fifo.splice(0)) this.settle(id, how);
    };
    switch (m.type) {
      case 'Init':
        this.toClient.push({
          type: 'Init',
          readerId: 0xffffffff,
          magic: Uint8Array.of(0x56, 0x53, 0x43, 0x44),
          version: 2,
          capabilities: [0],
        });
        break;
      case 'ReaderAdd':
        ack(0, 0);
        break;
      case 'ATR':
        flush('flushed');
        this.isCardPresent = true;
        ack();
        break;
      case 'CardRemove':
        flush('flushed');
        this.isCardPresent = false;
        ack();
        break;
      case 'ReaderRemove':
        flush('dropped');
        this.isCardPresent = false;
        ack();
        break;
      case 'APDU': {
        const id = this.fifo.shift();
        // An answer with nothing outstanding would be dropped by QEMU; our client never sends one.
        expect(id, 'answer without an outstanding guest command').toBeDefined();
        // The answer carries the command's id: FIFO correlation must match.
        const answered = ((m.apdu[0] ?? 0) << 8) | (m.apdu[1] ?? 0);
        expect(answered, 'answer delivered to the wrong guest command').toBe(id);
        this.settle(id ?? -1, 'answered');
        break;
      }
      case 'Error':
        this.errorsReceived++;
        break;
      default:
        throw new Error(`client sent ${m.type}`);
    }
  }

  settle(id: number, how: 'answered' | 'flushed' | 'dropped'): void {
    expect(this.settled.has(id), `guest command ${id} settled twice`).toBe(false);
    this.settled.set(id, how);
  }
}

describe('VscardClientSession against a QEMU model (property)', () => {
  it('never misattributes answers, settles every guest command once, keeps one control message in flight', () => {
    const totals = { answered: 0, flushed: 0, dropped: 0, staleAnswers: 0, flushedOnArrival: 0 };
    fc.assert(
      fc.property(
        fc.array(arbStep, { minLength: 20, maxLength: 300, size: 'max' }),
        fc.array(fc.nat(), { maxLength: 50, size: 'max' }),
        (schedule, picks) => {
          const qemu = new QemuModel();
          const toHost: Uint8Array[] = [];
          const session = new VscardClientSession({ readerName: 'model' });
          /** Guest commands surfaced to the card, not yet answered: id → command number. */
          const pendingCard = new Map<number, number>();
          let unackedControl = 0;
          let pick = 0;
          const nextPick = (n: number): number =>
            (picks[pick++ % Math.max(1, picks.length)] ?? 0) % n;

          const perform = (actions: SessionAction[]): void => {
            for (const a of actions) {
              if (a.type === 'send') {
                toHost.push(a.bytes);
                if (
                  ['Init', 'ReaderAdd', 'ATR', 'CardRemove', 'ReaderRemove'].includes(
                    a.message.type,
                  )
                ) {
                  unackedControl++;
                  expect(
                    unackedControl,
                    'more than one control message in flight',
                  ).toBeLessThanOrEqual(1);
                }
              } else if (a.type === 'apdu') {
                pendingCard.set(a.id, ((a.apdu[2] ?? 0) << 8) | (a.apdu[3] ?? 0));
              } else if (a.type === 'event' && a.event.kind === 'stale-answer-dropped') {
                totals.staleAnswers++;
              } else if (a.type === 'event' && a.event.kind === 'guest-command-flushed') {
                totals.flushedOnArrival++;
              } else if (a.type === 'close') {
                throw new Error(`unexpected close: ${a.reason}`);
              }
            }
          };
          const deliverToClient = (): void => {
            const m = qemu.toClient.shift();
            if (!m) return;
            if (m.type === 'Init' || m.type === 'Error') unackedControl--;
            perform(session.receive(m, 0));
          };

          perform(session.start(0));
          for (const step of schedule) {
            switch (step) {
              case 'deliverToClient':
                deliverToClient();
                break;
              case 'deliverToHost': {
                const b = toHost.shift();
                if (b) qemu.receive(b);
                break;
              }
              case 'guestCommand':
                qemu.guestCommand();
                break;
              case 'cardAnswers': {
                const ids = [...pendingCard.keys()];
                if (ids.length === 0) break;
                const id = ids[nextPick(ids.length)] ?? 0;
                const cmd = pendingCard.get(id) ?? 0;
                pendingCard.delete(id);
                perform(session.answerApdu(id, Uint8Array.of(cmd >> 8, cmd & 0xff, 0x90, 0x00), 0));
                break;
              }
              default:
                perform(doUserStep(session, step));
            }
          }
          // Drain: deliver everything, the card answers the rest, until quiet.
          for (let round = 0; round < 1000; round++) {
            if (qemu.toClient.length > 0) deliverToClient();
            else if (toHost.length > 0) qemu.receive(toHost.shift() as Uint8Array);
            else if (pendingCard.size > 0) {
              const [id, cmd] = pendingCard.entries().next().value as [number, number];
              pendingCard.delete(id);
              perform(session.answerApdu(id, Uint8Array.of(cmd >> 8, cmd & 0xff, 0x90, 0x00), 0));
            } else break;
          }
          expect(qemu.toClient).toEqual([]);
          expect(toHost).toEqual([]);
          expect(qemu.fifo, 'guest commands left unanswered').toEqual([]);
          expect(qemu.settled.size).toBe(qemu.nextCommand - 1);
          expect(qemu.errorsReceived).toBe(0);
          expect(session.outstandingIds).toEqual([]);
          expect(unackedControl).toBe(0);
          for (const how of qemu.settled.values()) totals[how]++;
        },
      ),
      { numRuns: 300 },
    );
    // The schedules really exercise every path of rule 5.
    expect(totals.answered).toBeGreaterThan(100);
    expect(totals.flushed).toBeGreaterThan(20);
    expect(totals.staleAnswers).toBeGreaterThan(10);
    expect(totals.flushedOnArrival).toBeGreaterThan(5);
  });
});
