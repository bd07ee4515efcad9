/**
 * Table tests of the client session (vscard-protocol.md §6): every transition, with time as
 * an input, plus replays of real sessions from the vectors.
 */
import { describe, expect, it } from 'vitest';
import {
  VscardClientSession,
  decodeMessage,
  type SessionAction,
  type SessionEvent,
  type SessionOptions,
  type VscardMessage,
} from '../src/index.ts';
import { hex, loadVectors, toHex } from './vectors.ts';

const ok: VscardMessage = { type: 'Error', readerId: 0, code: 0 };
const refused: VscardMessage = { type: 'Error', readerId: 0, code: 1 };
const hostInit: VscardMessage = {
  type: 'Init',
  readerId: 0xffffffff,
  magic: hex('56534344'),
  version: 2,
  capabilities: [0],
};
const guest = (h: string): VscardMessage => ({ type: 'APDU', readerId: 0, apdu: hex(h) });
const YUBIKEY = hex('3bfd1300008131fe158073c021c057597562694b657940');

const sent = (a: SessionAction[]): string[] =>
  a.flatMap((x) => (x.type === 'send' ? [x.message.type] : []));
const sentBytes = (a: SessionAction[]): string[] =>
  a.flatMap((x) => (x.type === 'send' ? [toHex(x.bytes)] : []));
const events = (a: SessionAction[]): SessionEvent[] =>
  a.flatMap((x) => (x.type === 'event' ? [x.event] : []));
const kinds = (a: SessionAction[]): string[] => events(a).map((e) => e.kind);
const apdus = (a: SessionAction[]): { id: number; apdu: string }[] =>
  a.flatMap((x) => (x.type === 'apdu' ? [{ id: x.id, apdu: toHex(x.apdu) }] : []));
const closes = (a: SessionAction[]): string[] =>
  a.flatMap((x) => (x.type === 'close' ? [x.reason] : []));
const timers = (a: SessionAction[]): number[] =>
  a.flatMap((x) => (x.type === 'arm-timer' ? [x.atMs] : []));

/** A session that has reached `card` (Init, ReaderAdd, ATR acknowledged). */
function withCard(t = 0, opts: SessionOptions = {}): VscardClientSession {
  const s = new VscardClientSession(opts);
  s.start(t);
  s.receive(hostInit, t);
  s.receive(ok, t);
  s.insertCard(YUBIKEY, t);
  s.receive(ok, t);
  expect(s.state).toBe('card');
  return s;
}

describe('VscardClientSession: opening', () => {
  it('sends Init at once, never waiting for the host Init, then ReaderAdd after the Init reply', () => {
    const s = new VscardClientSession({ readerName: 'lab reader' });
    expect(s.state).toBe('idle');
    const a = s.start(1000);
    expect(sentBytes(a)).toEqual(['00000001000000000000000c565343440000000200000000']);
    expect(timers(a)).toEqual([3000]);
    expect(s.state).toBe('connected');
    const b = s.receive(hostInit, 1010);
    expect(kinds(b)).toEqual(['host-init']);
    expect(sentBytes(b)).toEqual(['00000003ffffffff0000000a6c616220726561646572']);
    expect(timers(b)).toEqual([3010]);
    const c = s.receive(ok, 1020);
    expect(kinds(c)).toEqual(['reader-added']);
    expect(sent(c)).toEqual([]);
    expect(s.state).toBe('reader');
  });

  it('with sendInit: false sends ReaderAdd first', () => {
    const s = new VscardClientSession({ sendInit: false });
    expect(sent(s.start(0))).toEqual(['ReaderAdd']);
    expect(kinds(s.receive(ok, 1))).toEqual(['reader-added']);
  });

  it('accepts the 2010 draft ReaderAddResponse as the ReaderAdd ack and adopts its reader id', () => {
    const s = new VscardClientSession({ sendInit: false });
    s.start(0);
    expect(kinds(s.receive({ type: 'ReaderAddResponse', readerId: 5 }, 1))).toEqual([
      'reader-added',
    ]);
    const a = s.insertCard(YUBIKEY, 2);
    expect(a[0]).toMatchObject({ type: 'send', message: { type: 'ATR', readerId: 5 } });
  });

  it('a refused ReaderAdd (spice-server code 2) closes the session', () => {
    const s = new VscardClientSession({ sendInit: false });
    s.start(0);
    const a = s.receive({ type: 'Error', readerId: 0xffffffff, code: 2 }, 1);
    expect(events(a)).toEqual([{ kind: 'reader-refused', code: 2 }, { kind: 'closed' }]);
    expect(closes(a)).toHaveLength(1);
    expect(s.state).toBe('closed');
  });

  it('keeps one control message in flight: an early insertCard waits for the ReaderAdd ack', () => {
    const s = new VscardClientSession();
    s.start(0);
    expect(sent(s.insertCard(YUBIKEY, 1))).toEqual([]);
    expect(sent(s.receive(hostInit, 2))).toEqual(['ReaderAdd']);
    const a = s.receive(ok, 3);
    expect(kinds(a)).toEqual(['reader-added']);
    expect(sent(a)).toEqual(['ATR']);
    const b = s.receive(ok, 4);
    expect(kinds(b)).toEqual(['atr-accepted']);
    expect(s.state).toBe('card');
  });

  it('takes the reader id from the ReaderAdd reply (rule 3)', () => {
    const s = new VscardClientSession({ sendInit: false });
    s.start(0);
    s.receive({ type: 'Error', readerId: 0, code: 0 }, 1);
    const a = s.insertCard(YUBIKEY, 2);
    expect(sentBytes(a)[0]?.slice(8, 16)).toBe('00000000');
  });
});

describe('VscardClientSession: ATR', () => {
  it('accepted ATR ⇒ atr-accepted, state card', () => {
    const s = withCard();
    expect(s.state).toBe('card');
  });

  it('refused ATR ⇒ atr-refused with the code, then CardRemove (rule 6) without card-removed', () => {
    const s = new VscardClientSession();
    s.start(0);
    s.receive(hostInit, 0);
    s.receive(ok, 0);
    s.insertCard(hex('3b84015653434487'), 0);
    const a = s.receive(refused, 5);
    expect(events(a)).toEqual([{ kind: 'atr-refused', code: 1 }]);
    expect(sent(a)).toEqual(['CardRemove']);
    expect(s.state).toBe('reader');
    const b = s.receive(ok, 6);
    expect(kinds(b)).toEqual([]);
    expect(s.state).toBe('reader');
  });

  it('a refused re-insert while a card is in leaves state reader after the cleanup', () => {
    const s = withCard();
    s.insertCard(hex('3c00'), 1);
    const a = s.receive(refused, 2);
    expect(kinds(a)).toEqual(['atr-refused']);
    expect(sent(a)).toEqual(['CardRemove']);
    s.receive(ok, 3);
    expect(s.state).toBe('reader');
  });

  it('removeCard ⇒ CardRemove ⇒ card-removed, state reader', () => {
    const s = withCard();
    expect(sent(s.removeCard(1))).toEqual(['CardRemove']);
    expect(kinds(s.receive(ok, 2))).toEqual(['card-removed']);
    expect(s.state).toBe('reader');
  });

  it('insertCard after removeReader re-announces the reader first', () => {
    const s = withCard();
    s.removeReader(1);
    s.receive(ok, 2);
    s.receive(ok, 3);
    expect(s.state).toBe('connected');
    expect(sent(s.insertCard(YUBIKEY, 4))).toEqual(['ReaderAdd']);
    expect(sent(s.receive(ok, 5))).toEqual(['ATR']);
    s.receive(ok, 6);
    expect(s.state).toBe('card');
  });
});

describe('VscardClientSession: guest commands', () => {
  it('surfaces guest commands with ids and answers them (APDU bypasses the control queue)', () => {
    const s = withCard();
    const a = s.receive(guest('00a4040009a0000003080000100000'), 1);
    expect(apdus(a)).toEqual([{ id: 1, apdu: '00a4040009a0000003080000100000' }]);
    s.removeCard(2); // CardRemove in flight does not block answers to newer commands
    s.receive(ok, 3);
    s.insertCard(YUBIKEY, 4);
    s.receive(ok, 5);
    const b = s.receive(guest('00ca000000'), 6);
    expect(apdus(b)).toEqual([{ id: 2, apdu: '00ca000000' }]);
    s.insertCard(YUBIKEY, 7); // ATR now in flight
    const c = s.answerApdu(2, hex('9000'), 8);
    expect(kinds(c)).toEqual(['stale-answer-dropped']);
  });

  it('answers strictly in order: an early answer waits for the older command', () => {
    const s = withCard();
    s.receive(guest('01'), 1);
    s.receive(guest('02'), 2);
    s.receive(guest('03'), 3);
    expect(s.outstandingIds).toEqual([1, 2, 3]);
    expect(s.answerApdu(2, hex('2222'), 4)).toEqual([]);
    const a = s.answerApdu(1, hex('1111'), 5);
    expect(sentBytes(a)).toEqual([
      '000000070000000000000002' + '1111',
      '000000070000000000000002' + '2222',
    ]);
    expect(s.outstandingIds).toEqual([3]);
    const b = s.answerApdu(3, { errorCode: 6 }, 6);
    // Error answers go little-endian (§2.5), as spice-gtk sends them (vector g04).
    expect(sentBytes(b)).toEqual(['00000002000000000000000406000000']);
    expect(s.outstandingIds).toEqual([]);
  });

  it('sends exactly the bytes given, even when the caller reuses its array afterwards', () => {
    const s = withCard();
    for (let i = 1; i <= 4; i++) s.receive(guest(`0${i}`), i);
    const buf = hex('aaaa9000');
    const first = s.answerApdu(1, buf, 5); // the oldest: encoded at once, not copied
    buf.set(hex('bbbb6a82'));
    const errorAnswer = { errorCode: 6 };
    expect(s.answerApdu(3, buf, 6)).toEqual([]); // waits for 2: kept as a copy
    buf.set(hex('cccc6a80'));
    expect(s.answerApdu(4, errorAnswer, 7)).toEqual([]);
    errorAnswer.errorCode = 9;
    buf.fill(0);
    const rest = s.answerApdu(2, hex('9000'), 8);
    expect(sentBytes(first)).toEqual(['000000070000000000000004aaaa9000']);
    expect(sentBytes(rest)).toEqual([
      '0000000700000000000000029000',
      '000000070000000000000004bbbb6a82',
      '00000002000000000000000406000000',
    ]);
    // Held answers' messages describe their bytes; each action's bytes decode to its message.
    for (const a of rest) {
      if (a.type !== 'send') throw new Error('send expected');
      expect(decodeMessage(a.bytes, { errorCodeByteOrder: 'le' })).toEqual(a.message);
    }
  });

  it('refuses answers longer than 374 bytes without changing anything (§4, g02)', () => {
    const s = withCard();
    s.receive(guest('00ca000000'), 1);
    expect(() => s.answerApdu(1, new Uint8Array(375), 2)).toThrow(RangeError);
    expect(s.outstandingIds).toEqual([1]);
    const a = s.answerApdu(1, new Uint8Array(374), 3);
    expect(sent(a)).toEqual(['APDU']);
    expect(a[0]?.type === 'send' && a[0].bytes.length).toBe(12 + 374);
  });

  it('sends whole answers up to maxAnswerBytes when the relay splits them (issue 11 §3)', () => {
    const s = withCard(0, { maxAnswerBytes: 65_524 });
    s.receive(guest('801007d000'), 1);
    const a = s.answerApdu(1, new Uint8Array(2002), 2);
    expect(a[0]?.type === 'send' && a[0].bytes.length).toBe(12 + 2002);
    s.receive(guest('801007d000'), 3);
    expect(() => s.answerApdu(2, new Uint8Array(65_525), 4)).toThrow(RangeError);
    expect(() => new VscardClientSession({ maxAnswerBytes: 65_525 })).toThrow(RangeError);
    expect(() => new VscardClientSession({ maxAnswerBytes: 1 })).toThrow(RangeError);
  });

  it('rejects ids never issued and second answers to a waiting id', () => {
    const s = withCard();
    expect(() => s.answerApdu(1, hex('9000'), 1)).toThrow(RangeError);
    s.receive(guest('01'), 1);
    s.receive(guest('02'), 1);
    s.answerApdu(2, hex('9000'), 2);
    expect(() => s.answerApdu(2, hex('9000'), 2)).toThrow(RangeError);
    expect(() => s.answerApdu(0, hex('9000'), 2)).toThrow(RangeError);
    s.answerApdu(1, hex('9000'), 3);
    // Answered and sent: a repeat is stale.
    expect(kinds(s.answerApdu(1, hex('9000'), 4))).toEqual(['stale-answer-dropped']);
  });

  it.each([
    ['a new ATR', (s: VscardClientSession) => s.insertCard(YUBIKEY, 10), 'ATR'],
    ['CardRemove', (s: VscardClientSession) => s.removeCard(10), 'CardRemove'],
    ['ReaderRemove', (s: VscardClientSession) => s.removeReader(10), 'CardRemove'],
  ])('drops answers to commands flushed by %s (rule 5)', (_label, act, first) => {
    const s = withCard();
    s.receive(guest('01'), 1);
    s.receive(guest('02'), 2);
    s.answerApdu(2, hex('2222'), 3); // buffered behind id 1
    const a = act(s);
    expect(sent(a)).toEqual([first]);
    expect(events(a)).toEqual([{ kind: 'stale-answer-dropped', id: 2 }]);
    expect(s.outstandingIds).toEqual([]);
    const b = s.answerApdu(1, hex('1111'), 11);
    expect(events(b)).toEqual([{ kind: 'stale-answer-dropped', id: 1 }]);
    expect(sent(b)).toEqual([]);
  });

  it('does not surface commands that arrive while a flushing message awaits its ack (g04)', () => {
    const s = withCard();
    s.removeCard(1);
    const a = s.receive(guest('00b0000010'), 2);
    expect(kinds(a)).toEqual(['guest-command-flushed']);
    expect(apdus(a)).toEqual([]);
    expect(sent(a)).toEqual([]);
  });

  it('answers with VSC_Error a command for a card that is not ours (previous session, §6)', () => {
    const s = new VscardClientSession();
    s.start(0);
    const a = s.receive(guest('00b0000020'), 1);
    expect(kinds(a)).toEqual(['guest-command-refused']);
    expect(sentBytes(a)).toEqual(['00000002000000000000000401000000']);
    expect(apdus(a)).toEqual([]);
    expect(s.state).toBe('connected');
  });

  it('answers Flush with FlushComplete, after the outstanding commands', () => {
    const s = withCard();
    expect(sentBytes(s.receive({ type: 'Flush', readerId: 0 }, 1))).toEqual([
      '000000090000000000000000',
    ]);
    s.receive(guest('01'), 2);
    expect(sent(s.receive({ type: 'Flush', readerId: 0 }, 3))).toEqual([]);
    expect(sent(s.answerApdu(1, hex('9000'), 4))).toEqual(['APDU', 'FlushComplete']);
  });
});

describe('VscardClientSession: host Init in any state', () => {
  const states: [string, () => VscardClientSession][] = [
    ['idle', () => new VscardClientSession()],
    [
      'connected (ReaderAdd in flight)',
      () => {
        const s = new VscardClientSession();
        s.start(0);
        s.receive(hostInit, 0);
        return s;
      },
    ],
    [
      'reader',
      () => {
        const s = new VscardClientSession({ sendInit: false });
        s.start(0);
        s.receive(ok, 0);
        return s;
      },
    ],
    ['card', () => withCard()],
    [
      'closing',
      () => {
        const s = withCard();
        s.close(0);
        return s;
      },
    ],
  ];
  it.each(states)('%s: host-init event, nothing sent, state unchanged', (_label, make) => {
    const s = make();
    const before = s.state;
    const a = s.receive({ ...hostInit }, 1);
    expect(events(a)).toEqual([{ kind: 'host-init', version: 2 }]);
    expect(sent(a)).toEqual([]);
    expect(s.state).toBe(before);
  });

  it('an Init does not count as the ReaderAdd ack', () => {
    const s = new VscardClientSession();
    s.start(0);
    s.receive(hostInit, 0);
    s.receive(hostInit, 1); // unsolicited (device re-created)
    expect(s.state).toBe('connected');
    expect(kinds(s.receive(ok, 2))).toEqual(['reader-added']);
  });

  it('an Error with no request in flight is reported and ignored', () => {
    const s = withCard();
    const a = s.receive(refused, 1);
    expect(kinds(a)).toEqual(['unexpected-message']);
    expect(s.state).toBe('card');
  });

  it('reports a draft Reconnect without acting on it', () => {
    const s = withCard();
    expect(events(s.receive({ type: 'Reconnect', readerId: 0, ip: 0, port: 0 }, 1))).toEqual([
      { kind: 'reconnect-requested', ip: 0, port: 0 },
    ]);
  });
});

describe('VscardClientSession: timeouts', () => {
  it('no reply within ackTimeoutMs ⇒ ack-timeout, closed, close', () => {
    const s = new VscardClientSession({ ackTimeoutMs: 2000 });
    s.start(100);
    expect(s.tick(2099)).toEqual([]);
    const a = s.tick(2100);
    expect(events(a)).toEqual([{ kind: 'ack-timeout', waitingFor: 'Init' }, { kind: 'closed' }]);
    expect(closes(a)).toEqual(['no reply to Init within 2000 ms']);
    expect(s.state).toBe('closed');
    expect(s.receive(ok, 2200)).toEqual([]);
    expect(s.tick(5000)).toEqual([]);
  });

  it('each control message gets its own deadline', () => {
    const s = new VscardClientSession({ ackTimeoutMs: 500 });
    s.start(0);
    expect(timers(s.receive(hostInit, 400))).toEqual([900]);
    expect(s.tick(800)).toEqual([]);
    expect(kinds(s.tick(900))).toEqual(['ack-timeout', 'closed']);
  });

  it('an acknowledged session has nothing to time out', () => {
    const s = withCard();
    expect(s.tick(1e9)).toEqual([]);
    expect(s.state).toBe('card');
  });
});

describe('VscardClientSession: removal and close', () => {
  it('ReaderRemove while APDUs are pending: CardRemove, ReaderRemove, answers dropped', () => {
    const s = withCard();
    s.receive(guest('01'), 1);
    const a = s.removeReader(2);
    expect(sent(a)).toEqual(['CardRemove']);
    const b = s.receive(ok, 3);
    expect(kinds(b)).toEqual(['card-removed']);
    expect(sent(b)).toEqual(['ReaderRemove']);
    expect(s.state).toBe('reader');
    expect(kinds(s.receive(guest('02'), 3))).toEqual(['guest-command-flushed']);
    expect(kinds(s.receive(ok, 4))).toEqual(['reader-removed']);
    expect(s.state).toBe('connected');
    expect(kinds(s.answerApdu(1, hex('9000'), 5))).toEqual(['stale-answer-dropped']);
  });

  it('removeReader without a card sends only ReaderRemove', () => {
    const s = new VscardClientSession({ sendInit: false });
    s.start(0);
    s.receive(ok, 0);
    expect(sent(s.removeReader(1))).toEqual(['ReaderRemove']);
  });

  it('close: CardRemove, then ReaderRemove after its ack, then close after both acks', () => {
    const s = withCard();
    s.receive(guest('01'), 1);
    const a = s.close(2);
    expect(sentBytes(a)).toEqual(['000000060000000000000000']);
    expect(s.state).toBe('closing');
    expect(closes(a)).toEqual([]);
    // Calls during closing are ignored.
    expect(s.insertCard(YUBIKEY, 2)).toEqual([]);
    expect(s.removeCard(2)).toEqual([]);
    expect(s.close(2)).toEqual([]);
    const b = s.receive(ok, 3);
    expect(kinds(b)).toEqual(['card-removed']);
    expect(sentBytes(b)).toEqual(['000000040000000000000000']);
    expect(closes(b)).toEqual([]);
    const c = s.receive(ok, 4);
    expect(kinds(c)).toEqual(['reader-removed', 'closed']);
    expect(closes(c)).toEqual(['closed']);
    expect(s.state).toBe('closed');
    expect(kinds(s.answerApdu(1, hex('9000'), 5))).toEqual(['stale-answer-dropped']);
  });

  it('close waits for the control message in flight and drops queued ones', () => {
    const s = new VscardClientSession();
    s.start(0);
    s.insertCard(YUBIKEY, 0); // queued behind Init and ReaderAdd
    expect(s.close(1)).toEqual([]); // Init still in flight
    expect(sent(s.receive(hostInit, 2))).toEqual(['CardRemove']);
    expect(sent(s.receive(ok, 3))).toEqual(['ReaderRemove']);
    expect(closes(s.receive(ok, 4))).toEqual(['closed']);
  });

  it('close times out if the host never acks', () => {
    const s = withCard(0);
    s.close(1000);
    const a = s.tick(3000);
    expect(events(a)).toEqual([
      { kind: 'ack-timeout', waitingFor: 'CardRemove' },
      { kind: 'closed' },
    ]);
    expect(closes(a)).toHaveLength(1);
  });

  it('close before start closes at once; methods other than close need start()', () => {
    const s = new VscardClientSession();
    expect(() => s.insertCard(YUBIKEY, 0)).toThrow();
    expect(kinds(s.close(0))).toEqual(['closed']);
    expect(s.state).toBe('closed');
  });
});

describe('VscardClientSession: replays of real sessions', () => {
  const vectors = loadVectors();
  /**
   * Drive the session with the vector's host messages and the card events its client steps
   * imply; the session's bytes must equal the client's bytes.
   */
  it.each([
    's02_full_session',
    'g01_guest_apdu_roundtrip',
    'g06_pcscd_t0',
    'g08_pcscd_dual_protocol_atr',
    'g11_pcscd_t1_card_as_t0',
  ])('%s', (name) => {
    const v = vectors.find((x) => x.name === name);
    if (!v) throw new Error(name);
    const steps = v.steps.map((st) => ({ dir: st.dir, bytes: hex(st.hex) }));
    const readerAdd = steps
      .map((st) => (st.dir === 'c2h' ? decodeMessage(st.bytes) : undefined))
      .find((m) => m?.type === 'ReaderAdd');
    const s = new VscardClientSession({
      readerName: readerAdd?.type === 'ReaderAdd' ? readerAdd.name : '',
    });
    const pending: string[] = [];
    let lastId = 0;
    let t = 0;
    const collect = (a: SessionAction[]): void => {
      pending.push(...sentBytes(a));
      for (const x of a) if (x.type === 'apdu') lastId = x.id;
      expect(closes(a)).toEqual([]);
    };
    collect(s.start(t));
    for (const st of steps) {
      t += 10;
      if (st.dir === 'h2c') {
        collect(s.receive(decodeMessage(st.bytes), t));
        continue;
      }
      if (pending.length === 0) {
        const m = decodeMessage(st.bytes, { errorCodeByteOrder: 'le' });
        if (m.type === 'ATR') collect(s.insertCard(m.atr, t));
        else if (m.type === 'APDU') collect(s.answerApdu(lastId, m.apdu, t));
        else if (m.type === 'Error') collect(s.answerApdu(lastId, { errorCode: m.code }, t));
        else if (m.type === 'CardRemove') collect(s.removeCard(t));
        else if (m.type === 'ReaderRemove') collect(s.removeReader(t));
        else throw new Error(`no session call for ${m.type}`);
      }
      expect(pending.shift(), `${name} step ${toHex(st.bytes)}`).toBe(toHex(st.bytes));
    }
    expect(pending).toEqual([]);
  });
});
