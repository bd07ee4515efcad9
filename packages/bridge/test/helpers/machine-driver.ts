/**
 * Drives a LendingMachine by hand for the pure machine tests: a settable clock, the VM side
 * as VSCard messages, the reader side as answers to the machine's reader requests. Nothing
 * runs by itself: every input is a call, so tests are exact and need no waiting.
 */
import { decodeMessage, encodeMessage, RELAY_SUBPROTOCOL } from '@cardlend/vscard';
import type { VscardMessage } from '@cardlend/vscard';
import { resolveReconnectPolicy } from '../../src/backoff.ts';
import { LendingMachine } from '../../src/lending/machine.ts';
import type { LendingMachineOptions } from '../../src/lending/machine.ts';
import type { LendingAction, ReaderRequest, TimerName } from '../../src/lending/types.ts';
import { FakeCcidError } from './scripted-reader.ts';

export const T0_ATR = Uint8Array.from([
  0x3b, 0x7a, 0x18, 0, 0, 0x73, 0x66, 0x74, 0x65, 0x20, 0x63, 0x64, 0x31, 0x34, 0x34,
]);

export class MachineDriver {
  readonly m: LendingMachine;
  nowMs = 1_000;
  /** Every action so far, in order. */
  readonly actions: LendingAction[] = [];
  /** Reader requests not answered yet, oldest first. */
  readonly pending: ReaderRequest[] = [];
  /** Armed timers (bridge clock). */
  readonly timers = new Map<TimerName, number>();
  socket = 0;

  constructor(opts: Partial<LendingMachineOptions> = {}) {
    this.m = new LendingMachine({
      slot: 0,
      readerName: 'Test',
      ackTimeoutMs: 500,
      stopTimeoutMs: 1000,
      t0Compat: 'auto',
      reconnect: resolveReconnectPolicy({ initialDelayMs: 100, maxDelayMs: 400, maxAttempts: 3 }),
      random: () => 0,
      maxAnswerBytes: 374,
      isPowerOffOnStop: true,
      isResumable: true,
      ...opts,
    });
  }

  /** Feeds one input; returns its actions. */
  feed(input: (m: LendingMachine, nowMs: number) => LendingAction[]): LendingAction[] {
    const out = input(this.m, this.nowMs);
    for (const a of out) {
      this.actions.push(a);
      if (a.type === 'reader') this.pending.push(a.request);
      if (a.type === 'open-socket') this.socket = a.socket;
      if (a.type === 'arm-timer') this.timers.set(a.timer, a.atMs);
      if (a.type === 'cancel-timer') this.timers.delete(a.timer);
    }
    return out;
  }

  /** Types of the VSCard messages sent since action index `from`. */
  sentTypes(from = 0): string[] {
    return this.sent(from).map((m) => m.type);
  }

  sent(from = 0): VscardMessage[] {
    return this.actions
      .slice(from)
      .filter((a) => a.type === 'send')
      .map((a) => decodeMessage(a.bytes, { errorCodeByteOrder: 'le' }));
  }

  states(from = 0): LendingAction[] {
    return this.actions.slice(from).filter((a) => a.type === 'state');
  }

  of<T extends LendingAction['type']>(type: T, from = 0): Extract<LendingAction, { type: T }>[] {
    return this.actions
      .slice(from)
      .filter((a): a is Extract<LendingAction, { type: T }> => a.type === type);
  }

  /** Answers the oldest pending reader request (which must be of `kind`). */
  reader(kind: ReaderRequest['kind'], value: unknown): LendingAction[] {
    const req = this.pending.shift();
    if (req?.kind !== kind)
      throw new Error(`expected a ${kind} request, got ${req?.kind ?? 'none'}`);
    return this.feed((m, now) => m.readerDone(req.id, { ok: true, value }, now));
  }

  /** Fails the oldest pending reader request with a CcidError-shaped error of `code`. */
  readerFails(kind: ReaderRequest['kind'], code: string): LendingAction[] {
    const req = this.pending.shift();
    if (req?.kind !== kind)
      throw new Error(`expected a ${kind} request, got ${req?.kind ?? 'none'}`);
    return this.feed((m, now) =>
      m.readerDone(req.id, { ok: false, error: new FakeCcidError(code) }, now),
    );
  }

  /** The VM (through the relay) sends `msg`. */
  host(msg: VscardMessage): LendingAction[] {
    const bytes = encodeMessage(msg, { errorCodeByteOrder: 'be' });
    return this.feed((m, now) => m.socketMessage(this.socket, bytes, now));
  }

  /** The VM acknowledges the control message in flight. */
  ack(code = 0): LendingAction[] {
    return this.host({ type: 'Error', readerId: 0, code });
  }

  hostInit(): LendingAction[] {
    return this.host({
      type: 'Init',
      readerId: 0xffffffff,
      magic: Uint8Array.of(0x56, 0x53, 0x43, 0x44),
      version: 2,
      capabilities: [0],
    });
  }

  guest(apdu: number[]): LendingAction[] {
    return this.host({ type: 'APDU', readerId: 0, apdu: Uint8Array.from(apdu) });
  }

  opened(protocol = RELAY_SUBPROTOCOL): LendingAction[] {
    return this.feed((m, now) => m.socketOpened(this.socket, protocol, now));
  }

  closed(code: number, reason = ''): LendingAction[] {
    return this.feed((m, now) => m.socketClosed(this.socket, code, reason, now));
  }

  fire(timer: TimerName): LendingAction[] {
    const atMs = this.timers.get(timer);
    if (atMs === undefined) throw new Error(`timer ${timer} is not armed`);
    this.nowMs = Math.max(this.nowMs, atMs);
    this.timers.delete(timer);
    return this.feed((m, now) => m.timerFired(timer, now));
  }

  /** start → socket open → Init/ReaderAdd acked, with the slot `status` and, if present, a T=0 card powered. */
  lend(status: 'absent' | 'inactive' = 'inactive'): void {
    this.feed((m, now) => m.start(now, true));
    this.opened();
    this.hostInit();
    this.ack(); // ReaderAdd
    this.reader('slot-status', status);
    if (status !== 'absent') {
      this.reader('power-on', { atr: T0_ATR, protocol: 0 });
      this.ack(); // ATR
    } else {
      this.ack(); // CardRemove of a stale card (§6 rule 7)
    }
  }
}
