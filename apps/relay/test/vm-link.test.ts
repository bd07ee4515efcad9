/**
 * The VM side's phases (session/vm-link.ts) step by step, with every timer in the test's hand:
 * each phase owns exactly its own timer, and entering the next clears it. A real loopback
 * socket plays QEMU's chardev and records what the relay sends.
 */
import net from 'node:net';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { SessionTimers, TimerHandle } from '../src/session/timers.ts';
import {
  cleanupBounds,
  GUEST_ANSWER_GRACE_MS,
  VmLink,
  type CleanupBounds,
} from '../src/session/vm-link.ts';
import { FakeVmHost, type HostConnection } from './helpers.ts';

const BOUNDS: CleanupBounds = {
  guestAnswerGraceMs: 500,
  cleanupAckTimeoutMs: 1000,
  tcpCloseTimeoutMs: 2000,
};

/** Timers that only run when the test fires them. */
class ManualTimers implements SessionTimers {
  readonly pending = new Map<number, { ms: number; run: () => void }>();
  #id = 1;
  set<A>(fn: (arg: A) => void, ms: number, arg: A): TimerHandle {
    const id = this.#id++;
    this.pending.set(id, { ms, run: () => fn(arg) });
    return id;
  }
  clear(handle: TimerHandle): void {
    this.pending.delete(handle as number);
  }
  /** The delays of the armed timers. */
  get armed(): number[] {
    return [...this.pending.values()].map((t) => t.ms);
  }
  /** Fires the timer armed for `ms`. */
  fire(ms: number): void {
    const entry = [...this.pending].find(([, t]) => t.ms === ms);
    if (!entry) throw new Error(`no timer of ${ms} ms armed (armed: ${this.armed.join(', ')})`);
    this.pending.delete(entry[0]);
    entry[1].run();
  }
}

let host: FakeVmHost;
let conn: HostConnection;
let tcp: net.Socket;
let timers: ManualTimers;
let link: VmLink;

beforeEach(async () => {
  host = await FakeVmHost.start({ isAutoAck: false });
  tcp = net.connect({ host: '127.0.0.1', port: host.port });
  await new Promise((r) => tcp.once('connect', r));
  tcp.on('error', () => {});
  conn = await host.nextConnection(0);
  timers = new ManualTimers();
  link = new VmLink(tcp, timers, BOUNDS);
});

afterEach(async () => {
  tcp.destroy();
  await host.close();
});

type Step =
  | { do: 'cleanup'; answered: number; isWaitingForAcks?: boolean }
  | { do: 'fire'; ms: number }
  | { do: 'reply' }
  | { do: 'drop' }
  | { do: 'closed' };

function apply(step: Step): void {
  if (step.do === 'cleanup') link.startCleanup(step.answered, step.isWaitingForAcks ?? true);
  else if (step.do === 'fire') timers.fire(step.ms);
  else if (step.do === 'reply') link.noteReply();
  else if (step.do === 'drop') link.drop();
  else link.onClosed();
}

describe('VmLink phases', () => {
  it.each<[string, [Step, string, number[]][], number[]]>([
    [
      'answers, grace, removals, acks, FIN, close',
      [
        [{ do: 'cleanup', answered: 2 }, 'grace', [500]],
        [{ do: 'fire', ms: 500 }, 'acks', [1000]],
        [{ do: 'reply' }, 'acks', [1000]],
        [{ do: 'reply' }, 'fin', [2000]],
        [{ do: 'closed' }, 'closed', []],
      ],
      [2, 2, 6, 4],
    ],
    [
      'nothing outstanding: removals at once',
      [
        [{ do: 'cleanup', answered: 0 }, 'acks', [1000]],
        [{ do: 'fire', ms: 1000 }, 'fin', [2000]],
      ],
      [6, 4],
    ],
    [
      'a VM that sends garbage is not waited for',
      [[{ do: 'cleanup', answered: 1, isWaitingForAcks: false }, 'fin', [2000]]],
      [2, 6, 4],
    ],
    [
      'QEMU gone during the grace: nothing more is sent',
      [
        [{ do: 'cleanup', answered: 1 }, 'grace', [500]],
        [{ do: 'drop' }, 'closed', []],
      ],
      [2],
    ],
  ])('%s', async (_name, steps, sent) => {
    expect(link.phase).toBe('open');
    for (const [step, phase, armed] of steps) {
      apply(step);
      expect([link.phase, timers.armed]).toEqual([phase, armed]);
    }
    await conn.waitFor(() => conn.messages.length >= sent.length, 3000, 'the messages');
    expect(conn.messages.map((m) => m.type)).toEqual(sent);
  });

  it.each([
    ['both acks in time', () => [link.noteReply(), link.noteReply()], true],
    ['the ack timeout', () => timers.fire(BOUNDS.cleanupAckTimeoutMs), false],
  ] as const)('%s: acked is %s', (_name, then, isAcked) => {
    link.startCleanup(0, true);
    then();
    expect([link.phase, link.isCleanupAcked]).toEqual(['fin', isAcked]);
  });

  it('the slow-reader timer belongs to the open phase', () => {
    let expired = 0;
    link.armSlowReader(() => expired++, 10_000, undefined);
    expect(timers.armed).toEqual([10_000]);
    link.startCleanup(0, true); // leaving open clears it
    expect(timers.armed).toEqual([1000]);
    expect(expired).toBe(0);
  });

  it('the slow-reader timer can be armed again after it was disarmed', () => {
    let expired = 0;
    link.armSlowReader(() => expired++, 10_000, undefined);
    link.armSlowReader(() => expired++, 20_000, undefined); // armed already: ignored
    link.disarmSlowReader();
    expect(timers.armed).toEqual([]);
    link.armSlowReader(() => expired++, 30_000, undefined);
    timers.fire(30_000);
    expect([expired, link.phase]).toEqual([1, 'open']);
  });
});

describe('cleanupBounds', () => {
  it('has the defaults and the values given, one object for the same values', () => {
    const defaults = cleanupBounds({});
    expect(defaults).toEqual({
      guestAnswerGraceMs: GUEST_ANSWER_GRACE_MS,
      cleanupAckTimeoutMs: 1000,
      tcpCloseTimeoutMs: 1000,
    });
    expect(cleanupBounds({})).toBe(defaults);
    const other = cleanupBounds({ cleanupAckTimeoutMs: 20 });
    expect(other).toEqual({ ...defaults, cleanupAckTimeoutMs: 20 });
    expect(cleanupBounds({ tcpCloseTimeoutMs: 7 })).toEqual({ ...defaults, tcpCloseTimeoutMs: 7 });
    expect(Object.isFrozen(other)).toBe(true);
  });
});
