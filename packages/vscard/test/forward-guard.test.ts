/** ForwardGuard's rules one by one (the property tests prove what they add up to). */
import { describe, expect, it } from 'vitest';
import {
  ForwardGuard,
  GUARD_PROBE,
  RelayClose,
  VSC,
  clientInit,
  encodeMessage,
  type ToVmDecision,
} from '../src/index.ts';
import { GuardWorld } from './guard-world.ts';

const ATR = encodeMessage({ type: 'ATR', readerId: 0, atr: Uint8Array.of(0x3b, 0x02, 0x41, 0x42) });
const READER_ADD = encodeMessage({ type: 'ReaderAdd', readerId: 0xffffffff, name: 'lab' });
const CARD_REMOVE = encodeMessage({ type: 'CardRemove', readerId: 0 });
const INIT = encodeMessage(clientInit());
const ERROR_ANSWER = encodeMessage({ type: 'Error', readerId: 0, code: 1 });
const answer = (n: number): Uint8Array =>
  encodeMessage({ type: 'APDU', readerId: 0, apdu: new Uint8Array(n) });
const ACK = { type: VSC.Error };
const GUEST = { type: VSC.APDU };

function refusal(d: ToVmDecision): { code: number; rule: string } | 'forward' {
  return d.action === 'refuse' ? { code: d.closeCode, rule: d.rule } : 'forward';
}

describe('ForwardGuard', () => {
  it('refuses the issue-11 pair: ReaderAdd, then a 65 524-byte APDU', () => {
    const g = new ForwardGuard();
    expect(g.toVm(READER_ADD).action).toBe('forward');
    const d = g.toVm(answer(65524));
    expect(refusal(d)).toEqual({ code: RelayClose.PROTOCOL_VIOLATION, rule: 'too-long' });
    expect(d.action === 'refuse' && d.reason).toMatch(/^Protocol violation: APDU answer/);
    expect(g.unprovenBytes).toBe(READER_ADD.length);
  });

  it('refuses malformed frames with BAD_FRAME', () => {
    const g = new ForwardGuard();
    expect(refusal(g.toVm(Uint8Array.of(0, 0, 0, 1)))).toEqual({
      code: RelayClose.BAD_FRAME,
      rule: 'bad-frame',
    });
    expect(refusal(g.toVm(encodeMessage({ type: 'FlushComplete', readerId: 0 })))).toMatchObject({
      rule: 'bad-frame',
    });
  });

  it('caps each type: answers 374, Error exactly 4, ATR 40, removals empty', () => {
    const g = new ForwardGuard();
    g.toVm(ATR);
    g.fromVm(ACK);
    g.fromVm(GUEST);
    expect(refusal(g.toVm(answer(375)))).toMatchObject({ rule: 'too-long' });
    expect(g.toVm(answer(374)).action).toBe('forward');
    const shortError = Uint8Array.from([0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 1, 1]);
    g.fromVm(GUEST);
    expect(refusal(g.toVm(shortError))).toMatchObject({ rule: 'too-long' });
    const longAtr = encodeMessage({ type: 'ATR', readerId: 0, atr: new Uint8Array(41) });
    expect(refusal(g.toVm(longAtr))).toMatchObject({ rule: 'too-long' });
    const fatRemove = Uint8Array.from([0, 0, 0, 6, 0, 0, 0, 0, 0, 0, 0, 1, 7]);
    expect(refusal(g.toVm(fatRemove))).toMatchObject({ rule: 'too-long' });
  });

  it('each guard keeps its own answer cap; the other caps are the same for all', () => {
    const guards = [new ForwardGuard(), new ForwardGuard({ maxAnswerBytes: 2000 })];
    for (const g of guards) {
      g.toVm(ATR);
      g.fromVm(ACK);
    }
    const [small, large] = guards as [ForwardGuard, ForwardGuard];
    for (const g of guards) for (let i = 0; i < 3; i++) g.fromVm(GUEST);
    expect(refusal(small.toVm(answer(375)))).toMatchObject({ rule: 'too-long' });
    expect(large.toVm(answer(2000)).action).toBe('forward');
    expect(refusal(large.toVm(answer(2001)))).toMatchObject({ rule: 'too-long' });
    expect(small.toVm(answer(374)).action).toBe('forward');
    for (const g of guards) {
      const longAtr = encodeMessage({ type: 'ATR', readerId: 0, atr: new Uint8Array(41) });
      expect(refusal(g.toVm(longAtr))).toMatchObject({ rule: 'too-long' });
      const longName = encodeMessage({ type: 'ReaderAdd', readerId: 0, name: 'x'.repeat(256) });
      expect(refusal(g.toVm(longName))).toMatchObject({ rule: 'too-long' });
      const longInit = Uint8Array.from([
        0,
        0,
        0,
        1,
        0,
        0,
        0,
        0,
        0,
        0,
        0,
        76,
        ...new Array<number>(76).fill(0),
      ]);
      expect(refusal(g.toVm(longInit))).toMatchObject({ rule: 'too-long' });
    }
  });

  it('forwards exactly one answer per waiting guest command', () => {
    const g = new ForwardGuard();
    expect(refusal(g.toVm(answer(2)))).toMatchObject({ rule: 'answer-without-command' });
    g.fromVm(GUEST);
    g.fromVm(GUEST);
    expect(g.answerableCommands).toBe(2);
    expect(g.toVm(answer(2)).action).toBe('forward');
    expect(g.toVm(ERROR_ANSWER).action).toBe('forward');
    expect(refusal(g.toVm(answer(2)))).toMatchObject({ rule: 'answer-without-command' });
  });

  it('keeps one browser control message awaiting its reply', () => {
    const g = new ForwardGuard();
    expect(g.toVm(INIT).action).toBe('forward');
    expect(refusal(g.toVm(READER_ADD))).toMatchObject({ rule: 'control-in-flight' });
    expect(g.fromVm({ type: VSC.Init }).action).toBe('forward');
    expect(g.toVm(READER_ADD).action).toBe('forward');
    expect(g.fromVm(ACK).action).toBe('forward');
    expect(g.repliesAwaited).toBe(0);
  });

  it('ATR/CardRemove/ReaderRemove settle waiting commands; commands during them are not answerable', () => {
    const g = new ForwardGuard();
    g.fromVm(GUEST);
    g.toVm(CARD_REMOVE);
    expect(g.answerableCommands).toBe(0);
    g.fromVm(GUEST); // sent by QEMU before it handled CardRemove: QEMU settles it itself
    expect(refusal(g.toVm(answer(2)))).toMatchObject({ rule: 'answer-without-command' });
    g.fromVm(ACK);
    g.fromVm(GUEST);
    expect(g.toVm(answer(2)).action).toBe('forward');
  });

  it('a reply to the last message written proves the buffer empty', () => {
    const g = new ForwardGuard();
    g.fromVm(GUEST);
    g.toVm(READER_ADD);
    g.toVm(answer(100)); // written after ReaderAdd: its reply proves nothing
    g.fromVm(ACK);
    expect(g.unprovenBytes).toBe(READER_ADD.length + 112);
    g.toVm(ATR);
    g.fromVm(ACK);
    expect(g.unprovenBytes).toBe(0);
  });

  it('probes past the threshold and drops the probe reply; the page never sees it', () => {
    const g = new ForwardGuard({ probeThresholdBytes: 1000 });
    let probe: Uint8Array | undefined;
    for (let i = 0; i < 3 && !probe; i++) {
      g.fromVm(GUEST);
      const d = g.toVm(answer(374));
      if (d.action === 'forward') probe = d.probe;
    }
    expect(probe).toBe(GUARD_PROBE);
    expect(g.isProbeInFlight).toBe(true);
    expect(g.unprovenBytes).toBe(3 * 386 + 24);
    const reply = g.fromVm({ type: VSC.Init });
    expect(reply).toEqual({ action: 'drop' });
    expect(g.unprovenBytes).toBe(0);
  });

  it('routes replies in order when a page Init follows a probe', () => {
    const g = new ForwardGuard({ probeThresholdBytes: 1 });
    g.fromVm(GUEST);
    expect(g.toVm(answer(2))).toMatchObject({ action: 'forward', probe: GUARD_PROBE });
    expect(g.toVm(INIT).action).toBe('forward');
    expect(g.fromVm({ type: VSC.Init }).action).toBe('drop');
    expect(g.fromVm({ type: VSC.Init }).action).toBe('forward');
  });

  it('refuses what would exceed the budget of unproven bytes', () => {
    const g = new ForwardGuard({ inputBudgetBytes: 1024, probeThresholdBytes: 1023 });
    for (let i = 0; i < 3; i++) g.fromVm(GUEST);
    expect(g.toVm(answer(374)).action).toBe('forward');
    expect(g.toVm(answer(374)).action).toBe('forward');
    expect(refusal(g.toVm(answer(374)))).toMatchObject({ rule: 'input-budget' });
    expect(g.unprovenBytes).toBe(772);
  });

  it("counts the relay's own messages; its controls may queue and their replies are dropped", () => {
    const g = new ForwardGuard();
    g.fromVm(GUEST);
    expect(g.toVm(ERROR_ANSWER, 'relay').action).toBe('forward');
    expect(g.toVm(CARD_REMOVE, 'relay').action).toBe('forward');
    const readerRemove = encodeMessage({ type: 'ReaderRemove', readerId: 0 });
    expect(g.toVm(readerRemove, 'relay').action).toBe('forward');
    expect(g.fromVm(ACK).action).toBe('drop');
    expect(g.fromVm(ACK).action).toBe('drop');
    expect(g.unprovenBytes).toBe(0);
  });

  it("a takeover makes the old page's controls the relay's: replies dropped, the new page may send", () => {
    const g = new ForwardGuard();
    expect(g.toVm(INIT).action).toBe('forward');
    expect(refusal(g.toVm(READER_ADD))).toMatchObject({ rule: 'control-in-flight' });
    g.adoptBrowserControls(); // a resume: a new page took the session over
    expect(g.toVm(INIT).action).toBe('forward');
    expect(g.repliesAwaited).toBe(2);
    expect(g.fromVm({ type: VSC.Init }).action).toBe('drop'); // the old page's Init
    expect(g.fromVm({ type: VSC.Init }).action).toBe('forward'); // the new page's
    expect(g.toVm(READER_ADD).action).toBe('forward');
    expect(g.unprovenBytes).toBe(READER_ADD.length);
  });

  it('passes unsolicited messages from QEMU through', () => {
    const g = new ForwardGuard();
    expect(g.fromVm({ type: VSC.Init })).toEqual({ action: 'forward' });
    expect(g.fromVm(ACK)).toEqual({ action: 'forward' });
  });

  it('rejects impossible options', () => {
    expect(() => new ForwardGuard({ inputBudgetBytes: 70000 })).toThrow(RangeError);
    expect(() => new ForwardGuard({ probeThresholdBytes: 65536 })).toThrow(RangeError);
    expect(() => new ForwardGuard({ maxAnswerBytes: 1 })).toThrow(RangeError);
  });

  it('serves a long session of 5 000 maximal answers through probes, never near the budget', () => {
    const w = new GuardWorld();
    w.send(ATR);
    w.drain();
    for (let i = 0; i < 5000; i++) {
      w.guestCommand(5);
      w.deliver();
      expect(w.send(answer(374)).action).toBe('forward');
      w.read(1 + ((i * 7919) % 386)); // a read that usually ends inside the answer
      w.read(4096);
      w.deliver();
      expect(w.qemu.input.status).toBe('ok');
    }
    expect(w.refusals).toBe(0);
    expect(w.guestAnswers).toBe(5000);
    expect(w.probes).toBeGreaterThan(100);
    expect(w.maxUnproven).toBeLessThan(16384 + 386 + 24 + 386);
  });
});
