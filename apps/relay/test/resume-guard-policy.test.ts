/**
 * Resuming with the relay's default frame policy (the forward guard) against a fake VM that
 * replies only when the test says so: what the guard must carry over when a reconnect with the
 * ticket takes a parked session over. The relay's own answers while parked pass the guard as
 * the relay's; a control message the old page sent and QEMU had not acknowledged yet neither
 * blocks the new page's re-announcement (no 4015) nor has its late reply shown to the new page.
 */
import { RELAY_SUBPROTOCOL, RELAY_TICKET_SUBPROTOCOL_PREFIX } from '@cardlend/vscard';
import { describe, expect, it } from 'vitest';
import type { ServerEvent } from '../src/server-events.ts';
import { GUARD_POLICY } from '../src/session/guard-policy.ts';
import { type Browser, HeldTimers, type HostConnection, msg } from './helpers.ts';
import { fakeVmRigPerTest } from './relay-rig.ts';
import { cutUntilParked, offerAt, openResumable } from './resume-helpers.ts';

const GRACE_MS = 7777;
const T = { Init: 1, Error: 2, ReaderAdd: 3, ATR: 5, APDU: 7 } as const;
const INIT = msg(T.Init, 0, '56534344 00000002 00000000');
const QEMU_INIT = msg(T.Init, 0xffffffff, '56534344 00000002 00000000');
const READER_ADD = msg(T.ReaderAdd, 0);
const ACK = msg(T.Error, 0, '00000000');

const rig = fakeVmRigPerTest({ isAutoAck: false }, () => ({
  config: { resumeGraceMs: GRACE_MS },
  extra: { sessionTimers: new HeldTimers(GRACE_MS), framePolicy: GUARD_POLICY },
}));

async function open(credential?: string): Promise<{ b: Browser; ticket: string }> {
  const b = await openResumable(rig, credential);
  return { b, ticket: (await offerAt(b)).ticket };
}

const count = (c: HostConnection, type: number): number =>
  c.messages.filter((m) => m.type === type).length;
const typesTo = (b: Browser): number[] =>
  b.frames.filter((f) => f.isBinary).map((f) => f.data.readUInt32BE(0));
const refusals = (): ServerEvent[] =>
  rig.events.filter((e) => e.kind === 'session-event' && e.event.kind === 'frame-refused');

/** The page announces (Init, ReaderAdd) with the fake VM acknowledging each. */
async function announce(b: Browser, c: HostConnection): Promise<void> {
  const seen = b.frames.length;
  b.send(INIT);
  await c.waitFor(() => count(c, T.Init) >= 1, 3000, 'Init');
  c.socket.write(QEMU_INIT);
  await b.frame(seen);
  b.send(READER_ADD);
  await c.waitFor(() => count(c, T.ReaderAdd) >= 1, 3000, 'ReaderAdd');
  c.socket.write(ACK);
  await b.frame(seen + 1);
}

describe('resuming through the forward guard', () => {
  it('the relay answers guest commands while parked; the new page answers the next one', async () => {
    const first = await open();
    const c = await rig.vm.nextConnection(0);
    await announce(first.b, c);
    c.socket.write(msg(T.APDU, 0, '00A4040000'));
    await first.b.frame(3);
    await cutUntilParked(rig.relay, first.b);
    await c.waitFor(() => count(c, T.Error) === 1, 3000, 'outstanding command answered');
    c.socket.write(msg(T.APDU, 0, '00B0000000'));
    await c.waitFor(() => count(c, T.Error) === 2, 3000, 'answered while parked');

    const second = await open(RELAY_TICKET_SUBPROTOCOL_PREFIX + first.ticket);
    c.socket.write(msg(T.APDU, 0, '00CA010000'));
    await second.b.frame(1);
    second.b.send(msg(T.APDU, 0, '9000'));
    await c.waitFor(() => count(c, T.APDU) === 1, 3000, 'the answer reaches the VM');
    expect(refusals()).toEqual([]);
    expect(second.b.ws.readyState).toBe(second.b.ws.OPEN);
  });

  it("a control message of the old page awaiting QEMU's reply does not block the new page", async () => {
    const first = await open();
    const c = await rig.vm.nextConnection(0);
    first.b.send(INIT); // QEMU has not replied yet when the connection is cut
    await c.waitFor(() => count(c, T.Init) === 1, 3000, 'first Init');
    await cutUntilParked(rig.relay, first.b);

    const second = await open(RELAY_TICKET_SUBPROTOCOL_PREFIX + first.ticket);
    second.b.send(INIT); // the bridge re-announces at once
    await c.waitFor(() => count(c, T.Init) === 2, 3000, 'second Init');
    c.socket.write(QEMU_INIT); // the reply to the old page's Init: not the new page's
    c.socket.write(QEMU_INIT);
    await second.b.frame(1);
    second.b.send(READER_ADD);
    await c.waitFor(() => count(c, T.ReaderAdd) === 1, 3000, 'ReaderAdd');
    c.socket.write(ACK);
    await second.b.frame(2);
    expect(typesTo(second.b)).toEqual([T.Init, T.Error]);
    expect(refusals()).toEqual([]);
    expect(second.b.ws.readyState).toBe(second.b.ws.OPEN);
  });
});

describe('GUARD_POLICY.resume (pure)', () => {
  const frame = (bytes: Buffer) => ({ type: bytes.readUInt32BE(0), bytes: Uint8Array.from(bytes) });

  it("hands the old page's unacknowledged control messages to the relay", () => {
    const s = GUARD_POLICY.init({ protocol: RELAY_SUBPROTOCOL });
    expect(GUARD_POLICY.toVm?.(frame(INIT), s)).toMatchObject({ action: 'forward' });
    // Without a takeover a second control message before the reply is a violation.
    expect(GUARD_POLICY.toVm?.(frame(READER_ADD), s)).toMatchObject({
      action: 'refuse',
      closeCode: 4015,
    });
    GUARD_POLICY.resume?.(s);
    expect(GUARD_POLICY.toVm?.(frame(INIT), s)).toMatchObject({ action: 'forward' });
    expect(s.guard.repliesAwaited).toBe(2);
    // QEMU replies in order: the first Init reply was the old page's (dropped), the second is
    // the new page's (forwarded).
    expect(GUARD_POLICY.toBrowser?.(frame(QEMU_INIT), s)).toMatchObject({ action: 'drop' });
    expect(GUARD_POLICY.toBrowser?.(frame(QEMU_INIT), s)).toMatchObject({ action: 'forward' });
    expect(GUARD_POLICY.toVm?.(frame(READER_ADD), s)).toMatchObject({ action: 'forward' });
  });

  it("the relay's answers while parked pass as the relay's; extra ones are not written", () => {
    const s = GUARD_POLICY.init({ protocol: RELAY_SUBPROTOCOL });
    const guestError = msg(T.Error, 0, '01000000');
    expect(GUARD_POLICY.toBrowser?.(frame(msg(T.APDU, 0, '00A4040000')), s)).toMatchObject({
      action: 'forward',
    });
    expect(GUARD_POLICY.fromRelay?.(frame(guestError), s)).toMatchObject({ action: 'forward' });
    expect(GUARD_POLICY.fromRelay?.(frame(guestError), s)).toMatchObject({ action: 'drop' });
    GUARD_POLICY.resume?.(s);
    expect(s.guard.answerableCommands).toBe(0);
  });
});
