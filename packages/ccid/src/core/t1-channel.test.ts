/**
 * T1Session against an ISO/IEC 7816-3 §11 card model over a channel that corrupts blocks in both
 * directions: every exchange ends in the exact response or a CCID_PROTOCOL failure, within a
 * bounded number of blocks; a single corruption is always recovered.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { buildT1Block, decodeT1Block } from './t1-block.ts';
import { T1Session } from './t1.ts';
import type { T1Action } from './t1.ts';

/** Card side of T=1: I-block chaining both ways, R-block acks and error replies, RESYNCH, IFS. */
class CardModel {
  hostExpected = 0;
  ns = 0;
  ifsd = 32;
  rx: number[] = [];
  resp: Uint8Array | undefined;
  respOff = 0;
  lastChunk = 0;
  last: Uint8Array = buildT1Block(0, 0x80, new Uint8Array(0), 'lrc');
  processed = 0;
  readonly answer: (cmd: Uint8Array) => Uint8Array;
  constructor(answer: (cmd: Uint8Array) => Uint8Array) {
    this.answer = answer;
  }

  #send(b: Uint8Array): Uint8Array {
    this.last = b;
    return b;
  }
  #sendChunk(): Uint8Array {
    const r = this.resp!;
    this.lastChunk = Math.min(this.ifsd, r.length - this.respOff);
    const more = this.respOff + this.lastChunk < r.length;
    return this.#send(
      buildT1Block(
        0,
        (this.ns << 6) | (more ? 0x20 : 0),
        r.subarray(this.respOff, this.respOff + this.lastChunk),
        'lrc',
      ),
    );
  }
  onBlock(bytes: Uint8Array): Uint8Array {
    const b = decodeT1Block(bytes, 'lrc');
    if (b.kind === 'invalid') {
      if ((this.last[1]! & 0xc0) === 0x80) return this.last; // rule 7.2: resend our R-block
      return this.#send(
        buildT1Block(
          0,
          0x80 | (this.hostExpected << 4) | (b.reason === 'edc' ? 1 : 2),
          new Uint8Array(0),
          'lrc',
        ),
      );
    }
    if (b.kind === 'S') {
      if (b.pcb === 0xc0) {
        this.hostExpected = 0;
        this.ns = 0;
        this.rx = [];
        this.resp = undefined;
        return this.#send(buildT1Block(0, 0xe0, new Uint8Array(0), 'lrc'));
      }
      if (b.pcb === 0xc1) {
        this.ifsd = b.inf[0]!;
        return this.#send(buildT1Block(0, 0xe1, b.inf, 'lrc'));
      }
      return this.last;
    }
    if (b.kind === 'I') {
      if (b.ns !== this.hostExpected) return this.last; // a repeat: our answer was lost, send it again
      if (this.resp) {
        // the host acknowledged our last chunk implicitly by a new I-block: a new command
        this.resp = undefined;
      }
      this.hostExpected ^= 1;
      this.rx.push(...b.inf);
      if (b.isMore)
        return this.#send(
          buildT1Block(0, 0x80 | (this.hostExpected << 4), new Uint8Array(0), 'lrc'),
        );
      this.processed++;
      this.resp = this.answer(Uint8Array.from(this.rx));
      this.rx = [];
      this.respOff = 0;
      return this.#sendChunk();
    }
    // R-block
    if (this.resp && b.nr !== this.ns && this.respOff + this.lastChunk < this.resp.length) {
      this.ns ^= 1;
      this.respOff += this.lastChunk;
      return this.#sendChunk();
    }
    return this.last;
  }
  /** After the host's last I-block of a response was accepted, the card's N(S) moves on. */
  finishResponse(): void {
    if (this.resp) {
      this.ns ^= 1;
      this.resp = undefined;
    }
  }
}

function corrupt(b: Uint8Array, at: number): Uint8Array {
  const c = b.slice();
  c[at % c.length]! ^= 0x01 << (at % 8);
  return c;
}

const answer = (cmd: Uint8Array): Uint8Array => {
  const out = new Uint8Array(cmd.length * 2 + 2);
  out.set(cmd);
  out.set(cmd, cmd.length);
  out[out.length - 2] = 0x90;
  return out;
};

/** Runs one APDU; `faultAt(step, dir)` decides which transmissions get a bit flipped. */
function exchange(
  t: T1Session,
  card: CardModel,
  cmd: Uint8Array,
  faultAt: (step: number, dir: 'h2c' | 'c2h') => number | undefined,
): T1Action {
  let a = t.transmit(cmd);
  for (let step = 0; step < 5000 && a.type === 'send'; step++) {
    const f1 = faultAt(step, 'h2c');
    const reply = card.onBlock(f1 === undefined ? a.block : corrupt(a.block, f1));
    const f2 = faultAt(step, 'c2h');
    a = t.onBlock(f2 === undefined ? reply : corrupt(reply, f2));
  }
  if (a.type === 'deliver') card.finishResponse();
  return a;
}

describe('T1Session over a lossy channel (ISO/IEC 7816-3:2006 §11.6)', () => {
  it('property: exact response or CCID_PROTOCOL, never unbounded; the session stays usable after success', () => {
    fc.assert(
      fc.property(
        fc.array(fc.uint8Array({ minLength: 1, maxLength: 300 }), { minLength: 1, maxLength: 4 }),
        fc.integer({ min: 4, max: 64 }),
        fc.integer({ min: 4, max: 64 }),
        fc.double({ min: 0, max: 0.3, noNaN: true }),
        fc.integer({ min: 1, max: 1 << 30 }),
        (cmds, ifsc, ifsd, p, seed) => {
          let x = seed;
          const rnd = (): number => ((x = (x * 1103515245 + 12345) & 0x7fffffff), x / 0x7fffffff);
          const t = new T1Session({ ifsc, ifsd });
          const card = new CardModel(answer);
          card.ifsd = ifsd;
          for (const cmd of cmds) {
            const a = exchange(t, card, cmd, () =>
              rnd() < p ? Math.floor(rnd() * 1000) : undefined,
            );
            if (a.type === 'failed') {
              expect(a.error.code).toBe('CCID_PROTOCOL');
              return;
            }
            expect(a.type).toBe('deliver');
            if (a.type === 'deliver')
              expect(Buffer.from(a.apdu).toString('hex')).toBe(
                Buffer.from(answer(cmd)).toString('hex'),
              );
          }
        },
      ),
      { numRuns: 300 },
    );
  });

  it('property: any single corrupted block, in either direction, is recovered', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 1, maxLength: 200 }),
        fc.integer({ min: 4, max: 40 }),
        fc.integer({ min: 0, max: 30 }),
        fc.constantFrom('h2c' as const, 'c2h' as const),
        fc.nat(),
        (cmd, ifs, when, dir, at) => {
          const t = new T1Session({ ifsc: ifs, ifsd: ifs });
          const card = new CardModel(answer);
          card.ifsd = ifs;
          const a = exchange(t, card, cmd, (step, d) =>
            step === when && d === dir ? at : undefined,
          );
          expect(a.type).toBe('deliver');
          if (a.type === 'deliver')
            expect(Buffer.from(a.apdu).toString('hex')).toBe(
              Buffer.from(answer(cmd)).toString('hex'),
            );
          // and the next APDU works with the sequence numbers left behind
          const b = exchange(t, card, Uint8Array.of(1, 2, 3), () => undefined);
          expect(b.type === 'deliver' && Buffer.from(b.apdu).toString('hex')).toBe(
            Buffer.from(answer(Uint8Array.of(1, 2, 3))).toString('hex'),
          );
        },
      ),
      { numRuns: 400 },
    );
  });
});
