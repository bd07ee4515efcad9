import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  encodeMessage,
  ForwardGuard,
  LongAnswerSplitter,
  QemuPassthruModel,
  RelayAnswerSplitter,
  RelayClose,
  VSC,
  type GuestAnswer,
} from '../src/index.ts';

const ATR = new Uint8Array([0x3b, 0x02, 0x14, 0x50]);
const msg = (type: 'ATR' | 'ReaderAdd' | 'CardRemove'): Uint8Array =>
  type === 'ATR'
    ? encodeMessage({ type, readerId: 0, atr: ATR })
    : type === 'ReaderAdd'
      ? encodeMessage({ type, readerId: 0, name: 'r' })
      : encodeMessage({ type, readerId: 0 });
const answerMsg = (apdu: Uint8Array): Uint8Array =>
  encodeMessage({ type: 'APDU', readerId: 0, apdu }, { maxPayloadBytes: 70_000 });

/** `80 10 00 00 Le`-style read whose answer is `n` pattern bytes + 90 00. */
function cardAnswer(n: number): Uint8Array {
  const a = new Uint8Array(n + 2);
  for (let i = 0; i < n; i++) a[i] = (i * 7 + 3) & 0xff;
  a[n] = 0x90;
  a[n + 1] = 0x00;
  return a;
}

/**
 * Guest ⇄ QEMU model ⇄ relay (guard + optional splitter) ⇄ page. QEMU reads what the relay
 * writes at once, in reads of `readSize`. The page answers each guest command it sees with
 * `pageAnswer(command)`; an old page (no splitter in the relay) splits itself.
 */
class World {
  readonly qemu = new QemuPassthruModel();
  readonly guard = new ForwardGuard();
  readonly splitter: RelayAnswerSplitter | undefined;
  readonly pageSplitter: LongAnswerSplitter | undefined;
  /** Guest commands that reached the page (each one a WAN round trip). */
  pageCommands = 0;
  readonly guestAnswers = new Map<number, GuestAnswer>();
  refusal: { closeCode: number; rule: string } | undefined;
  #pending: Uint8Array[] = [];

  readonly pageAnswer: (cmd: Uint8Array) => Uint8Array;
  readonly readSize: number;

  constructor(
    mode: 'relay-splits' | 'page-splits',
    pageAnswer: (cmd: Uint8Array) => Uint8Array,
    readSize = 4096,
  ) {
    this.pageAnswer = pageAnswer;
    this.readSize = readSize;
    this.splitter = mode === 'relay-splits' ? new RelayAnswerSplitter(this.guard) : undefined;
    this.pageSplitter = mode === 'page-splits' ? new LongAnswerSplitter() : undefined;
  }

  /** The relay writes to QEMU; QEMU reads it at once. */
  #write(bytes: Uint8Array): void {
    for (let o = 0; o < bytes.length; o += this.readSize) {
      for (const e of this.qemu.read(bytes.subarray(o, o + this.readSize))) {
        if (e.kind === 'reply') this.#fromVm(e.bytes);
        else if (e.kind === 'guest-answer') this.guestAnswers.set(e.id, e.answer);
      }
    }
  }

  /** The page sends one message; the relay decides. */
  page(bytes: Uint8Array): void {
    if (this.refusal) return;
    if (this.splitter) {
      const d = this.splitter.fromBrowser(bytes);
      if (d.action === 'refuse') this.refusal = d;
      else {
        this.#write(d.bytes);
        if (d.probe) this.#write(d.probe);
      }
      return;
    }
    const d = this.guard.toVm(bytes);
    if (d.action === 'refuse') this.refusal = d;
    else {
      this.#write(bytes);
      if (d.probe) this.#write(d.probe);
    }
  }

  /** A message from QEMU reaches the relay. */
  #fromVm(bytes: Uint8Array): void {
    const type = new DataView(bytes.buffer, bytes.byteOffset).getUint32(0);
    const d = this.guard.fromVm({ type });
    if (d.probe) this.#write(d.probe);
    if (d.action === 'drop') return;
    if (type === VSC.APDU && this.splitter) {
      const s = this.splitter.fromVm(bytes);
      if (s.action === 'refuse') throw new Error(`relay's own answer refused: ${s.reason}`);
      if (s.action === 'serve') {
        this.#write(s.answer);
        if (s.probe) this.#write(s.probe);
        return;
      }
    }
    if (type === VSC.APDU) this.#pending.push(bytes.slice(12));
  }

  /** The page answers the guest commands it holds, in order. */
  answerAll(): void {
    for (let cmd = this.#pending.shift(); cmd; cmd = this.#pending.shift()) {
      this.pageCommands++;
      const local = this.pageSplitter?.handleCommand(cmd);
      let answer: Uint8Array;
      if (local?.kind === 'serve') answer = local.answer;
      else {
        const whole = this.pageAnswer(cmd);
        answer = this.pageSplitter ? this.pageSplitter.handleAnswer(whole) : whole;
      }
      this.page(answerMsg(answer));
    }
  }

  /** The guest sends a command; returns its id. */
  guest(apdu: Uint8Array): number {
    const r = this.qemu.guestCommand(apdu);
    if (r.kind !== 'forwarded') throw new Error(`guest command not forwarded: ${r.kind}`);
    this.#fromVm(r.bytes);
    return r.id;
  }

  /** The guest reads like OpenSC: command, then GET RESPONSE while 61xx; returns data + SW. */
  guestRead(apdu: Uint8Array, le: (xx: number) => number = (xx) => xx): Uint8Array {
    const out: number[] = [];
    let id = this.guest(apdu);
    for (;;) {
      this.answerAll();
      const a = this.guestAnswers.get(id);
      if (a?.kind !== 'data') throw new Error(`guest got ${a?.kind ?? 'nothing'}`);
      const sw1 = a.bytes[a.bytes.length - 2];
      const sw2 = a.bytes[a.bytes.length - 1] ?? 0;
      out.push(...a.bytes.subarray(0, a.bytes.length - 2));
      if (sw1 !== 0x61) return new Uint8Array([...out, sw1 ?? 0, sw2]);
      id = this.guest(new Uint8Array([0x00, 0xc0, 0x00, 0x00, le(sw2) & 0xff]));
    }
  }

  setUp(): void {
    this.page(msg('ReaderAdd'));
    this.page(msg('ATR'));
  }
}

const READ = new Uint8Array([0x80, 0x10, 0x07, 0xd0, 0x00]); // asks for 2000 bytes
const byLength = (cmd: Uint8Array): Uint8Array =>
  cardAnswer(cmd[1] === 0x10 ? ((cmd[2] ?? 0) << 8) | (cmd[3] ?? 0) : 0);

describe('RelayAnswerSplitter', () => {
  it('a 2000-byte certificate read: the page sees 1 command (new page) instead of 8 (old page)', () => {
    for (const [mode, pageCommands] of [
      ['relay-splits', 1],
      ['page-splits', 8],
    ] as const) {
      const w = new World(mode, byLength);
      w.setUp();
      expect(w.guestRead(READ)).toEqual(cardAnswer(2000));
      expect(w.pageCommands).toBe(pageCommands);
      expect(w.refusal).toBeUndefined();
    }
  });

  it('counts what it did and keeps the guard exact (no command left answerable)', () => {
    const w = new World('relay-splits', byLength);
    w.setUp();
    w.guestRead(READ);
    expect(w.splitter?.stats).toEqual({ answersSplit: 1, getResponsesServed: 7 });
    expect(w.splitter?.bufferedBytes).toBe(0);
    expect(w.guard.answerableCommands).toBe(0);
  });

  it('short answers pass unchanged; another command after a split discards the rest', () => {
    const w = new World('relay-splits', byLength);
    w.setUp();
    expect(w.guestRead(new Uint8Array([0x80, 0x10, 0x00, 0x10, 0x10]))).toEqual(cardAnswer(16));
    const id = w.guest(READ);
    w.answerAll();
    expect(w.splitter?.bufferedBytes).toBe(2000 - 256);
    w.guest(new Uint8Array([0x80, 0x30, 0x00, 0x00])); // not GET RESPONSE: to the page
    expect(w.splitter?.bufferedBytes).toBe(0);
    w.answerAll();
    expect(w.pageCommands).toBe(3);
    expect(w.guestAnswers.get(id)?.kind).toBe('data');
  });

  it('more data than the command asked for (a chain the page collected) is split at its Ne', () => {
    for (const [le, first] of [
      [0x00, 256],
      [0x80, 128],
    ] as const) {
      const w = new World('relay-splits', () => cardAnswer(300)); // 302 bytes: fits QEMU, exceeds Ne
      w.setUp();
      const id = w.guest(new Uint8Array([0x00, 0xcb, 0x3f, 0xff, le]));
      w.answerAll();
      const a = w.guestAnswers.get(id);
      expect(a?.kind === 'data' && [a.bytes.length, a.bytes[first], a.bytes[first + 1]]).toEqual([
        first + 2,
        0x61,
        300 - first,
      ]);
      expect(w.guestRead(new Uint8Array([0x00, 0xc0, 0x00, 0x00, 300 - first]))).toEqual(
        cardAnswer(300).subarray(first),
      );
      expect(w.pageCommands).toBe(1);
    }
  });

  it("pipelined commands: each answer is cut at its own command's Ne; one shared forward decision", () => {
    const guard = new ForwardGuard();
    const splitter = new RelayAnswerSplitter(guard);
    guard.toVm(msg('ATR'));
    guard.fromVm({ type: VSC.Error });
    const les = [0x10, 0x20, 0x30];
    const decisions = les.map((le) => {
      guard.fromVm({ type: VSC.APDU });
      return splitter.fromVm(
        encodeMessage({ type: 'APDU', readerId: 0, apdu: Uint8Array.of(0x00, 0xb0, 0, 0, le) }),
      );
    });
    expect(decisions.every((d) => d === decisions[0] && d.action === 'forward')).toBe(true);
    expect(Object.isFrozen(decisions[0])).toBe(true);
    const firstPieces = les.map(() => {
      const d = splitter.fromBrowser(answerMsg(cardAnswer(0x40)));
      if (d.action !== 'forward') throw new Error(d.reason);
      return [d.bytes.length - 12, d.bytes[d.bytes.length - 2]];
    });
    expect(firstPieces).toEqual(les.map((le) => [le + 2, 0x61]));
    expect(guard.answerableCommands).toBe(0);
    // The relay's own CardRemove: a command QEMU sent meanwhile is settled by QEMU, so the next
    // answer goes to the command after it (its Ne, not the settled one's).
    guard.toVm(msg('CardRemove'), 'relay');
    for (const le of [0x08, 0x18]) {
      guard.fromVm({ type: VSC.APDU });
      splitter.fromVm(
        encodeMessage({ type: 'APDU', readerId: 0, apdu: Uint8Array.of(0x00, 0xb0, 0, 0, le) }),
      );
      if (le === 0x08) guard.fromVm({ type: VSC.Error });
    }
    const d = splitter.fromBrowser(answerMsg(cardAnswer(0x40)));
    expect(d.action === 'forward' && d.bytes.length - 12).toBe(0x18 + 2);
  });

  it('a GET RESPONSE behind a command still waiting for the page goes to the page', () => {
    const w = new World('relay-splits', byLength);
    w.setUp();
    w.guest(READ);
    w.answerAll(); // long answer buffered
    w.guest(new Uint8Array([0x80, 0x30, 0x00, 0x00])); // waits for the page (pipelined guest)
    w.guest(new Uint8Array([0x00, 0xc0, 0x00, 0x00, 0x00]));
    expect(w.splitter?.stats.getResponsesServed).toBe(0);
    w.answerAll();
    expect(w.pageCommands).toBe(3);
  });

  it('an ATR or Error answer empties the buffer', () => {
    const w = new World('relay-splits', byLength);
    w.setUp();
    w.guest(READ);
    w.answerAll();
    w.page(msg('ATR'));
    expect(w.splitter?.bufferedBytes).toBe(0);
    w.guest(READ);
    w.answerAll();
    w.guest(new Uint8Array([0x80, 0x30, 0x00, 0x00]));
    w.page(encodeMessage({ type: 'Error', readerId: 0, code: 1 }));
    expect(w.splitter?.bufferedBytes).toBe(0);
    expect(w.refusal).toBeUndefined();
  });

  const refusals: { name: string; send: (w: World) => void; closeCode: number; rule: string }[] = [
    {
      name: 'a long answer with no guest command waiting',
      send: (w) => w.page(answerMsg(cardAnswer(1000))),
      closeCode: RelayClose.PROTOCOL_VIOLATION,
      rule: 'answer-without-command',
    },
    {
      name: 'an answer longer than one VSCard message may be',
      send: (w) => {
        w.guest(READ);
        w.page(answerMsg(cardAnswer(65_523)));
      },
      closeCode: RelayClose.BAD_FRAME,
      rule: 'bad-frame',
    },
    {
      name: 'a message whose length word lies',
      send: (w) => {
        w.guest(READ);
        w.page(answerMsg(cardAnswer(1000)).subarray(0, 900));
      },
      closeCode: RelayClose.BAD_FRAME,
      rule: 'bad-frame',
    },
  ];
  for (const r of refusals) {
    it(`refuses ${r.name} (${r.closeCode}) and buffers nothing`, () => {
      const w = new World('relay-splits', byLength);
      w.setUp();
      r.send(w);
      expect(w.refusal).toMatchObject({ closeCode: r.closeCode, rule: r.rule });
      expect(w.splitter?.bufferedBytes).toBe(0);
    });
  }

  it('property: any answer lengths, Le choices and read sizes — the guest gets every byte, the page sees one command per read, QEMU stays readable', () => {
    fc.assert(
      fc.property(
        fc.array(fc.oneof(fc.integer({ min: 0, max: 3000 }), fc.constant(65_520)), {
          minLength: 1,
          maxLength: 5,
        }),
        fc.array(fc.integer({ min: 32, max: 256 }), { minLength: 1, maxLength: 8 }),
        fc.integer({ min: 64, max: 4096 }),
        (lengths, les, readSize) => {
          const w = new World(
            'relay-splits',
            (cmd) => cardAnswer(lengths[cmd[1] ?? 0] ?? 0),
            readSize,
          );
          w.setUp();
          let k = 0;
          for (const [i, n] of lengths.entries()) {
            const got = w.guestRead(
              new Uint8Array([0x80, i, 0x00, 0x00, (les[i % les.length] ?? 0) & 0xff]),
              (xx) => {
                const le = les[k++ % les.length] ?? 256;
                return Math.min(le, xx === 0 ? 256 : xx);
              },
            );
            expect(Buffer.from(got).equals(cardAnswer(n))).toBe(true); // toEqual is slow on 64 KiB
          }
          expect(w.pageCommands).toBe(lengths.length);
          expect(w.refusal).toBeUndefined();
          expect(w.qemu.input.status).toBe('ok');
          expect(w.guard.unprovenBytes).toBeLessThanOrEqual(65_536);
        },
      ),
      { numRuns: 100 },
    );
  }, 60_000);
});
