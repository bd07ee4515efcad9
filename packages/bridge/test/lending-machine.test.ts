/**
 * The lending state machine on its own: every input is a call and every output an action,
 * so each rule is checked exactly, with no sockets, readers or waiting (the same paths over
 * real sockets and readers are in card-bridge*.test.ts).
 */
import { RelayClose } from '@cardlend/vscard';
import { describe, expect, it } from 'vitest';
import type { BridgeState } from '../src/lending/types.ts';
import { MachineDriver, T0_ATR } from './helpers/machine-driver.ts';

const lastState = (d: MachineDriver): BridgeState => d.m.state;

describe('starting', () => {
  it('asks for the slot status and a socket, then says Init + ReaderAdd once open', () => {
    const d = new MachineDriver();
    const out = d.feed((m, now) => m.start(now, true));
    expect(out.map((a) => a.type)).toEqual(['state', 'open-socket', 'reader']);
    expect(d.m.state.link).toBe('connecting');
    expect(d.pending.map((r) => r.kind)).toEqual(['slot-status']);
    d.opened();
    expect(d.sentTypes()).toEqual(['Init']);
    d.hostInit();
    expect(d.sentTypes()).toEqual(['Init', 'ReaderAdd']);
    expect(d.of('started')).toHaveLength(0);
    d.ack();
    expect(d.of('started')).toHaveLength(1);
    expect(d.m.state.link).toBe('lent');
    // The slot status is not known yet: no CardRemove that a present card would contradict.
    expect(d.sentTypes()).toEqual(['Init', 'ReaderAdd']);
  });

  it.each([
    { status: 'absent' as const, sent: ['Init', 'ReaderAdd', 'CardRemove'], card: null },
    { status: 'inactive' as const, sent: ['Init', 'ReaderAdd', 'ATR'], card: 'accepted' },
  ])('slot $status: the VM is told $sent', ({ status, sent, card }) => {
    const d = new MachineDriver();
    d.lend(status);
    expect(d.sentTypes()).toEqual(sent);
    expect(d.m.state.card?.vmStatus ?? null).toBe(card);
    expect(d.pending).toEqual([]);
  });

  it('fails at once without a WebSocket', () => {
    const d = new MachineDriver();
    d.feed((m, now) => m.start(now, false));
    expect(d.m.state).toMatchObject({ link: 'failed', error: { code: 'BRIDGE_NO_WEBSOCKET' } });
    expect(d.of('start-failed')[0]?.error.code).toBe('BRIDGE_NO_WEBSOCKET');
    expect(d.of('ended')).toHaveLength(1);
    expect(d.of('open-socket')).toHaveLength(0);
  });

  it('will not speak VSCard to a server without the cardlend subprotocol', () => {
    const d = new MachineDriver();
    d.feed((m, now) => m.start(now, true));
    d.opened('');
    expect(d.sentTypes()).toEqual([]);
    expect(d.of('close-socket')[0]).toMatchObject({ code: 1002 });
    d.closed(1002);
    expect(d.m.state).toMatchObject({ link: 'failed', error: { code: 'BRIDGE_RELAY_PROTOCOL' } });
    expect(d.timers.has('reconnect')).toBe(false);
  });

  it.each([
    { what: 'a text frame', bytes: null },
    { what: 'bytes that are not VSCard', bytes: Uint8Array.of(0, 0, 0, 7, 0, 0, 0) },
  ])('ends the connection on $what', ({ bytes }) => {
    const d = new MachineDriver();
    d.feed((m, now) => m.start(now, true));
    d.opened();
    d.feed((m, now) => m.socketMessage(d.socket, bytes, now));
    expect(d.of('close-socket')[0]).toMatchObject({ code: 1002, reason: 'BRIDGE_RELAY_PROTOCOL' });
    d.closed(1002);
    expect(d.m.state.link).toBe('failed');
  });
});

describe('relay closes', () => {
  it.each([
    { code: 1006, link: 'reconnecting', error: 'BRIDGE_CONNECTION_LOST' },
    { code: RelayClose.GOING_AWAY, link: 'reconnecting', error: 'BRIDGE_RELAY_GOING_AWAY' },
    { code: RelayClose.VM_CLOSED, link: 'reconnecting', error: 'BRIDGE_VM_CLOSED' },
    { code: RelayClose.NORMAL, link: 'stopped', error: 'BRIDGE_RELAY_CLOSED' },
    { code: RelayClose.IDLE_TIMEOUT, link: 'stopped', error: 'BRIDGE_IDLE_TIMEOUT' },
    { code: RelayClose.VM_IN_USE, link: 'refused', error: 'BRIDGE_VM_IN_USE' },
    { code: RelayClose.UNAUTHORIZED, link: 'refused', error: 'BRIDGE_UNAUTHORIZED' },
    { code: RelayClose.BAD_FRAME, link: 'failed', error: 'BRIDGE_BAD_FRAME' },
    { code: RelayClose.VM_PROTOCOL, link: 'failed', error: 'BRIDGE_VM_PROTOCOL' },
  ])('close $code while lent: link $link, $error', ({ code, link, error }) => {
    const d = new MachineDriver();
    d.lend();
    d.closed(code, 'why');
    expect(d.m.state).toMatchObject({ link, error: { code: error }, closeCode: code });
    // The relay's own code and reason stay with the error (issue 10 §3: never renamed).
    expect(d.m.state.error?.source).toEqual({ kind: 'relay-close', code, reason: 'why' });
    expect(d.timers.has('reconnect')).toBe(link === 'reconnecting');
    expect(d.of('ended')).toHaveLength(link === 'reconnecting' ? 0 : 1);
    // The card stays known while reconnecting, but the VM no longer has it.
    if (link === 'reconnecting') expect(d.m.state.card?.vmStatus).toBe('not-sent');
  });

  it('retries with backoff, gives up after maxAttempts, and starts afresh after a stable connection', () => {
    const d = new MachineDriver(); // 100 ms initial, 400 ms cap, 3 attempts, random 0
    d.feed((m, now) => m.start(now, true));
    const retries: (number | undefined)[] = [];
    const dropBeforeOpen = (): void => {
      d.closed(1006);
      retries.push(d.m.state.reconnectAttempt);
      if (d.timers.has('reconnect')) {
        expect(d.m.state.nextRetryAtMs).toBe(d.timers.get('reconnect'));
        d.fire('reconnect');
      }
    };
    dropBeforeOpen();
    dropBeforeOpen();
    // Lent for 10 s: the next drop starts from attempt 1 again.
    d.opened();
    d.hostInit();
    d.ack();
    d.nowMs += 10_000;
    d.closed(1006);
    retries.push(d.m.state.reconnectAttempt);
    d.fire('reconnect');
    dropBeforeOpen();
    dropBeforeOpen();
    dropBeforeOpen();
    expect(retries).toEqual([1, 2, 1, 2, 3, undefined]);
    expect(d.m.state).toMatchObject({
      link: 'failed',
      error: { code: 'BRIDGE_RELAY_UNREACHABLE' },
    });
    // ceiling 100·2^(n-1) capped at 400, jittered to half with random 0
    const delays = d.of('arm-timer').filter((a) => a.timer === 'reconnect');
    expect(delays.length).toBe(5);
  });

  it('the VM not answering ReaderAdd in time ends lending (no reconnect)', () => {
    const d = new MachineDriver();
    d.feed((m, now) => m.start(now, true));
    d.opened();
    d.hostInit();
    d.fire('session');
    expect(d.of('close-socket')[0]).toMatchObject({ code: 1000 });
    d.closed(1000);
    expect(d.m.state).toMatchObject({ link: 'failed', error: { code: 'BRIDGE_VM_NOT_ANSWERING' } });
    expect(d.of('start-failed')[0]?.error.code).toBe('BRIDGE_VM_NOT_ANSWERING');
  });
});

describe('guest commands', () => {
  const SELECT = [0x00, 0xa4, 0x04, 0x00, 0x02, 0x3f, 0x00];

  it('go to the card one at a time and are answered in order', () => {
    const d = new MachineDriver();
    d.lend();
    const from = d.actions.length;
    d.guest(SELECT);
    d.guest([0x00, 0xca, 0x7f, 0x68, 0x00]);
    expect(d.pending.map((r) => r.kind)).toEqual(['transmit']); // the second waits in the queue
    d.reader('transmit', Uint8Array.of(0x90, 0x00));
    expect(d.pending.map((r) => r.kind)).toEqual(['transmit']);
    d.reader('transmit', Uint8Array.of(0x01, 0x02, 0x90, 0x00));
    expect(d.sent(from).map((m) => (m.type === 'APDU' ? [...m.apdu] : m.type))).toEqual([
      [0x90, 0x00],
      [0x01, 0x02, 0x90, 0x00],
    ]);
    expect(d.of('apdu-log', from).map((a) => a.entry.answeredBy)).toEqual(['card', 'card']);
  });

  it.each([
    { code: 'CCID_CARD_MUTE', logged: 'BRIDGE_CARD_MUTE', shown: 'BRIDGE_CARD_MUTE' },
    { code: 'CCID_TIMEOUT', logged: 'BRIDGE_READER_TIMEOUT', shown: 'BRIDGE_READER_TIMEOUT' },
    { code: 'CCID_NOT_POWERED', logged: 'BRIDGE_CARD_RESET', shown: null },
    { code: 'CCID_BAD_APDU', logged: 'BRIDGE_BAD_APDU', shown: null },
  ])(
    'a transmit failing with $code is answered 6F00, logged as $logged',
    ({ code, logged, shown }) => {
      const d = new MachineDriver();
      d.lend();
      const from = d.actions.length;
      d.guest(SELECT);
      d.readerFails('transmit', code);
      const answer = d.sent(from)[0];
      expect(answer?.type === 'APDU' && [...answer.apdu]).toEqual([0x6f, 0x00]);
      expect(d.of('apdu-log', from)[0]?.entry).toMatchObject({
        answeredBy: 'bridge-error',
        errorCode: logged,
      });
      expect(d.m.state.error?.code ?? null).toBe(shown);
      if (shown !== null) expect(d.m.state.error?.source).toEqual({ kind: 'ccid', code });
      expect(d.m.state.link).toBe('lent');
    },
  );

  it('an answer that comes after the card was pulled is never sent', () => {
    const d = new MachineDriver();
    d.lend();
    const from = d.actions.length;
    d.guest(SELECT);
    d.feed((m, now) => m.readerEvent({ type: 'card-removed', slot: 0 }, now));
    expect(d.sentTypes(from)).toEqual(['CardRemove']);
    d.reader('transmit', Uint8Array.of(0x90, 0x00)); // the late answer
    expect(d.sentTypes(from)).toEqual(['CardRemove']);
    expect(d.of('apdu-log', from)[0]?.entry).toMatchObject({
      answeredBy: 'bridge-error',
      errorCode: 'BRIDGE_CARD_ABSENT',
    });
  });

  it('a command of a dropped connection is logged unanswered and never sent on the next one', () => {
    const d = new MachineDriver();
    d.lend();
    d.guest(SELECT);
    d.guest(SELECT);
    d.closed(1006);
    const from = d.actions.length;
    d.fire('reconnect');
    d.opened();
    d.reader('transmit', Uint8Array.of(0x90, 0x00));
    expect(d.sentTypes(from)).toEqual(['Init']);
    expect(d.of('apdu-log').map((a) => [a.entry.response, a.entry.errorCode])).toEqual([
      [null, 'BRIDGE_CONNECTION_LOST'], // the queued one, when the connection dropped
      [null, undefined], // the one at the card, when its answer came
    ]);
  });

  it('more than 256 waiting commands is not a VM: the connection ends', () => {
    const d = new MachineDriver();
    d.lend();
    for (let i = 0; i < 258; i++) d.guest(SELECT);
    expect(d.of('close-socket')[0]).toMatchObject({ code: 1002, reason: 'BRIDGE_RELAY_PROTOCOL' });
  });

  it('a command while the VM shows no card of ours is refused by the session, never sent to the reader', () => {
    const d = new MachineDriver();
    d.lend('absent');
    const from = d.actions.length;
    d.guest(SELECT); // QEMU forwarded it before our CardRemove was acked: the session refuses it
    expect(d.sentTypes(from)).toEqual(['Error']);
    expect(d.pending).toEqual([]);
  });
});

describe('the card', () => {
  it('a power-on result of an earlier card is dropped; the newest card is announced', () => {
    const d = new MachineDriver();
    d.lend('absent');
    d.feed((m, now) => m.readerEvent({ type: 'card-inserted', slot: 0 }, now));
    d.feed((m, now) => m.readerEvent({ type: 'card-removed', slot: 0 }, now));
    d.feed((m, now) => m.readerEvent({ type: 'card-inserted', slot: 0 }, now));
    const from = d.actions.length;
    d.reader('power-on', { atr: Uint8Array.of(0x3b, 0x00), protocol: 0 }); // the first card's
    expect(d.sentTypes(from)).toEqual([]);
    d.reader('power-on', { atr: T0_ATR, protocol: 0 });
    expect(d.sent(from)).toMatchObject([{ type: 'ATR', atr: T0_ATR }]);
  });

  it.each([
    { code: 'CCID_CARD_MUTE', error: 'BRIDGE_CARD_MUTE', retries: 3 },
    { code: 'CCID_CARD_ABSENT', error: null, retries: 0 },
    { code: 'CCID_BAD_ATR', error: 'BRIDGE_CARD_PROTOCOL', retries: 0 },
  ])('power on failing with $code: reader still lent, error $error', ({ code, error, retries }) => {
    const d = new MachineDriver();
    d.feed((m, now) => m.start(now, true));
    d.opened();
    d.hostInit();
    d.ack();
    d.reader('slot-status', 'inactive');
    d.readerFails('power-on', code);
    // A failure that may heal is retried first (power-on-retry.test.ts).
    for (let i = 0; i < retries; i++) {
      d.fire('power-on');
      d.readerFails('power-on', code);
    }
    expect(d.timers.has('power-on')).toBe(false);
    expect(d.m.state).toMatchObject({ link: 'lent', card: null });
    expect(d.m.state.error?.code ?? null).toBe(error);
    expect(d.sentTypes()).toEqual(['Init', 'ReaderAdd', 'CardRemove']);
  });

  it('a refused ATR is reported with its likely cause and cleared by the next card', () => {
    const d = new MachineDriver({ t0Compat: 'never' });
    d.feed((m, now) => m.start(now, true));
    d.opened();
    d.hostInit();
    d.ack();
    d.reader('slot-status', 'inactive');
    d.reader('power-on', {
      atr: Uint8Array.from([0x3b, 0x84, 0x01, 0x56, 0x53, 0x43, 0x44, 0x87]),
      protocol: 1,
    });
    d.ack(1); // QEMU refuses the ATR
    expect(lastState(d)).toMatchObject({ link: 'refused', error: { code: 'BRIDGE_ATR_REFUSED' } });
    expect(lastState(d).error?.message).toMatch(/Likely cause: .+/);
    expect(d.sentTypes().at(-1)).toBe('CardRemove'); // §6 rule 6
    d.ack();
    d.feed((m, now) => m.readerEvent({ type: 'card-removed', slot: 0 }, now));
    expect(lastState(d)).toMatchObject({ link: 'lent', error: null, card: null });
  });

  it('ignores events of other slots', () => {
    const d = new MachineDriver();
    d.lend();
    const out = d.feed((m, now) => m.readerEvent({ type: 'card-removed', slot: 1 }, now));
    expect(out).toEqual([]);
  });
});

describe('stopping', () => {
  it('CardRemove, ReaderRemove, close 1000, then power off, then stopped', () => {
    const d = new MachineDriver();
    d.lend();
    const from = d.actions.length;
    d.feed((m, now) => m.stop(now));
    expect(d.sentTypes(from)).toEqual(['CardRemove']);
    d.ack();
    expect(d.sentTypes(from)).toEqual(['CardRemove', 'ReaderRemove']);
    d.ack();
    expect(d.of('close-socket', from)).toMatchObject([{ code: 1000, reason: 'Lending stopped' }]);
    expect(d.pending).toEqual([]);
    d.closed(1000);
    expect(d.pending.map((r) => r.kind)).toEqual(['power-off']);
    expect(d.of('ended')).toHaveLength(0);
    d.reader('power-off', undefined);
    expect(d.m.state).toMatchObject({ link: 'stopped', error: null, card: null });
    expect(d.of('ended')).toHaveLength(1);
    expect(d.timers.size).toBe(0);
  });

  it.each([
    { what: 'the VM never acks', step: 'stop' as const },
    { what: 'the power off never ends', step: 'power-off' as const },
  ])('is bounded when $what', ({ step }) => {
    const d = new MachineDriver();
    d.lend();
    d.feed((m, now) => m.stop(now));
    if (step === 'power-off') {
      d.ack();
      d.ack();
      d.closed(1000);
    }
    d.fire(step);
    if (step === 'stop') d.fire('power-off');
    expect(d.m.state.link).toBe('stopped');
    expect(d.of('ended')).toHaveLength(1);
  });

  it('reader gone: goodbye to the VM, no power off, stopped with the reason', () => {
    const d = new MachineDriver();
    d.lend();
    const from = d.actions.length;
    d.feed((m, now) => m.readerEvent({ type: 'reader-gone' }, now));
    d.ack();
    d.ack();
    d.closed(1000);
    expect(d.sentTypes(from)).toEqual(['CardRemove', 'ReaderRemove']);
    expect(d.pending).toEqual([]);
    expect(d.m.state).toMatchObject({ link: 'stopped', error: { code: 'BRIDGE_READER_GONE' } });
  });

  it('stop while connecting closes the socket when it opens, without a word of VSCard', () => {
    const d = new MachineDriver();
    d.feed((m, now) => m.start(now, true));
    d.feed((m, now) => m.stop(now));
    expect(d.of('start-failed')[0]?.error.code).toBe('BRIDGE_RELAY_CLOSED');
    d.opened();
    expect(d.of('close-socket')).toMatchObject([{ code: 1000 }]);
    d.closed(1000);
    d.reader('slot-status', 'inactive'); // late: no power on after stop
    expect(d.sentTypes()).toEqual([]);
    expect(d.pending).toEqual([]);
    expect(d.m.state.link).toBe('stopped');
  });

  it('stop while waiting to reconnect ends at once; stop before start too', () => {
    const d = new MachineDriver();
    d.lend();
    d.closed(1006);
    d.feed((m, now) => m.stop(now));
    d.reader('power-off', undefined);
    expect(d.m.state.link).toBe('stopped');
    expect(d.timers.size).toBe(0);
    const idle = new MachineDriver();
    idle.feed((m, now) => m.stop(now));
    expect(idle.m.state.link).toBe('stopped');
    expect(idle.of('ended')).toHaveLength(1);
    expect(idle.feed((m, now) => m.stop(now))).toEqual([]);
  });
});
