/**
 * The guard never refuses a well-behaved page: the page's own VscardClientSession, relayed
 * through the guard to the QEMU model, with random read boundaries, a guest that pipelines
 * commands, a card that answers late and in bursts, and the user inserting and removing the
 * card and the reader. Long sessions stay under the budget thanks to the probes, whose replies
 * never reach the page.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { VscardClientSession, decodeMessage, type SessionAction } from '../src/index.ts';
import { GuardWorld } from './guard-world.ts';
import { arbUserStep, doUserStep } from './user-steps.ts';

const arbStep = fc.oneof(
  {
    arbitrary: fc.record({
      kind: fc.constant('read' as const),
      size: fc.integer({ min: 1, max: 4096 }),
    }),
    weight: 10,
  },
  {
    arbitrary: fc.record({
      kind: fc.constant('relay' as const),
      count: fc.integer({ min: 1, max: 8 }),
    }),
    weight: 10,
  },
  {
    arbitrary: fc.record({
      kind: fc.constant('page' as const),
      count: fc.integer({ min: 1, max: 8 }),
    }),
    weight: 10,
  },
  {
    arbitrary: fc.record({
      kind: fc.constant('guest' as const),
      burst: fc.oneof(fc.constant(1), fc.integer({ min: 1, max: 20 })),
    }),
    weight: 5,
  },
  {
    arbitrary: fc.record({
      kind: fc.constant('card' as const),
      count: fc.integer({ min: 1, max: 20 }),
      length: fc.oneof(fc.constant(374), fc.integer({ min: 2, max: 374 })),
    }),
    weight: 6,
  },
  {
    arbitrary: arbUserStep.map((user) => ({ kind: 'user' as const, user })),
    weight: 1,
  },
);

describe('ForwardGuard with a well-behaved page (property)', () => {
  it('never refuses VscardClientSession and never lets QEMU wedge', () => {
    let probes = 0;
    let answered = 0;
    fc.assert(
      fc.property(fc.array(arbStep, { minLength: 1, maxLength: 400, size: 'max' }), (steps) => {
        const w = new GuardWorld();
        const page = new VscardClientSession({ readerName: 'page' });
        const commands: number[] = [];
        let initsSeen = 0;
        const apply = (actions: SessionAction[]): void => {
          for (const a of actions) {
            if (a.type === 'send') {
              const d = w.send(a.bytes);
              expect(d.action === 'refuse' ? d.reason : 'forward').toBe('forward');
            } else if (a.type === 'apdu') {
              commands.push(a.id);
            }
          }
        };
        apply(page.start(0));
        apply(doUserStep(page, 'insertCard'));
        for (const step of steps) {
          switch (step.kind) {
            case 'read':
              w.read(step.size);
              break;
            case 'relay':
              for (let i = 0; i < step.count; i++) w.deliver();
              break;
            case 'page':
              for (let i = 0; i < step.count; i++) {
                const m = w.toBrowser.shift();
                if (!m) break;
                if (m.type === 1) initsSeen++;
                apply(page.receive(decodeMessage(m.bytes), 0));
              }
              break;
            case 'guest':
              for (let i = 0; i < step.burst; i++) w.guestCommand(5);
              break;
            case 'card':
              for (let i = 0; i < step.count && commands.length > 0; i++) {
                const id = commands.shift() as number;
                apply(page.answerApdu(id, new Uint8Array(step.length).fill(0x90), 0));
                answered++;
              }
              break;
            case 'user':
              apply(doUserStep(page, step.user));
              break;
          }
          expect(w.qemu.input.status).toBe('ok');
          expect(w.bytesTowardsQemu).toBeLessThanOrEqual(w.guard?.unprovenBytes ?? 0);
        }
        expect(w.refusals).toBe(0);
        probes += w.probes;
        // Probe replies are dropped: the page sees only the reply to its own Init.
        expect(initsSeen).toBeLessThanOrEqual(1);
      }),
      // A fixed seed: the counts below check that the runs reach the probe path, which depends
      // on how long the generated sessions happen to be.
      { numRuns: 200, seed: 20261206 },
    );
    expect(answered).toBeGreaterThan(2000);
    expect(probes).toBeGreaterThan(10);
  }, 60_000);
});
