/**
 * The frame policy hook (session/frame-policy.ts), plugged in once for every session through
 * `startRelayServer({ framePolicy })`: per direction, per-session state, and a refusal that
 * closes the browser with the policy's own code while the VM gets its usual cleanup.
 */
import { RelayClose, VSC } from '@cardlend/vscard';
import { describe, expect, it } from 'vitest';
import { FORWARD, refuseFrame, type FramePolicy } from '../src/session/frame-policy.ts';
import { msg, until } from './helpers.ts';
import { fakeVmRigPerTest } from './relay-rig.ts';

const READER_ADD = msg(3, 0);
const ATR = msg(5, 0, '3b7a18000073667465206364313434');
const ANSWER = msg(7, 0, '9000');
const GUEST_SELECT = msg(7, 0, '00a4040002 3f00');
const GUEST_FORBIDDEN = msg(7, 0, '00ee000000'); // INS 0xEE: refused by the test policy

/** Counts each session's messages to the VM; refuses a fourth, and guest commands with INS EE. */
const policy: FramePolicy<{ toVm: number }> = {
  init: () => ({ toVm: 0 }),
  toVm: (_frame, state) =>
    ++state.toVm > 3 ? refuseFrame(RelayClose.BAD_FRAME, 'Policy: at most 3 messages.') : FORWARD,
  toBrowser: (frame) =>
    frame.type === VSC.APDU && frame.bytes[13] === 0xee
      ? refuseFrame(RelayClose.VM_PROTOCOL, 'Policy: the VM sent a forbidden command.')
      : FORWARD,
};

const rig = fakeVmRigPerTest({}, () => ({ extra: { framePolicy: policy as FramePolicy } }));
const { open } = rig;

describe('frame policy', () => {
  it('refuses a browser → VM frame: its close code; the frame never reaches the VM', async () => {
    const b = await open();
    const conn = await rig.vm.nextConnection(0);
    for (const m of [READER_ADD, ATR, ANSWER, ANSWER]) b.send(m);
    const closed = await b.closed;
    expect(closed).toEqual({ code: RelayClose.BAD_FRAME, reason: 'Policy: at most 3 messages.' });
    await conn.waitFor(() => conn.isEnded, 3000, 'FIN');
    expect(conn.messages.map((m) => m.type)).toEqual([3, 5, 7, 6, 4]);
    expect(rig.events).toContainEqual(
      expect.objectContaining({
        kind: 'session-event',
        event: expect.objectContaining({ kind: 'frame-refused', direction: 'to-vm' }),
      }),
    );
  });

  it('keeps its state per session', async () => {
    const first = await open();
    const c0 = await rig.vm.nextConnection(0);
    for (const m of [READER_ADD, ATR, ANSWER]) first.send(m);
    await c0.waitFor(() => c0.messages.length === 3, 3000, 'three messages');
    first.ws.close(1000);
    await c0.waitFor(() => c0.isEnded, 3000, 'first FIN');
    const second = await open();
    const c1 = await rig.vm.nextConnection(1);
    for (const m of [READER_ADD, ATR, ANSWER]) second.send(m);
    await c1.waitFor(() => c1.messages.length === 3, 3000, 'three more');
    expect(rig.relay.sessions.get('default')?.phase).toBe('open');
  });

  it('refuses a VM → browser frame: not delivered, and the guest command is answered with VSC_Error', async () => {
    const b = await open();
    const conn = await rig.vm.nextConnection(0);
    b.send(READER_ADD);
    b.send(ATR);
    await b.frame(1);
    conn.socket.write(Buffer.concat([GUEST_SELECT, GUEST_FORBIDDEN]));
    const closed = await b.closed;
    expect(closed.code).toBe(RelayClose.VM_PROTOCOL);
    expect(b.frames.map((f) => f.data.equals(GUEST_SELECT))).toEqual([false, false, true]);
    await conn.waitFor(() => conn.isEnded, 5000, 'FIN');
    // Both guest commands outstanding: two VSC_Error, then CardRemove and ReaderRemove.
    expect(conn.messages.slice(2).map((m) => m.type)).toEqual([2, 2, 6, 4]);
  });

  it('writes a probe after a frame, and drops QEMU’s reply to it before the browser', async () => {
    const INIT = msg(1, 0, '56534344 00000002 00000000');
    const probing: FramePolicy<{ probes: number; relay: number[] }> = {
      init: () => ({ probes: 0, relay: [] }),
      toVm: (frame, state) =>
        frame.type === VSC.ATR ? (state.probes++, { action: 'forward', probe: INIT }) : FORWARD,
      toBrowser: (frame, state) =>
        frame.type === VSC.Init && state.probes > 0
          ? (state.probes--, { action: 'drop' })
          : FORWARD,
    };
    await rig.startRelay(rig.vm.port, {}, { framePolicy: probing as FramePolicy });
    const b = await open();
    const conn = await rig.vm.nextConnection(0);
    b.send(READER_ADD);
    b.send(ATR);
    await conn.waitFor(() => conn.messages.length === 3, 3000, 'ReaderAdd, ATR, probe');
    expect(conn.messages.map((m) => m.type)).toEqual([3, 5, 1]);
    // The browser gets the two acks, never the Init that answered the probe.
    await b.frame(1);
    conn.socket.write(GUEST_SELECT);
    expect((await b.frame(2)).equals(GUEST_SELECT)).toBe(true);
    expect(b.frames.map((f) => f.data.readUInt32BE(0))).toEqual([2, 2, 7]);
  });

  it('sees the messages the relay writes itself, and may keep one from QEMU', async () => {
    const written: number[] = [];
    const noReaderRemove: FramePolicy = {
      init: () => undefined,
      fromRelay: (frame) => (
        written.push(frame.type),
        frame.type === VSC.ReaderRemove ? { action: 'drop' } : FORWARD
      ),
    };
    await rig.startRelay(rig.vm.port, {}, { framePolicy: noReaderRemove });
    const b = await open();
    const conn = await rig.vm.nextConnection(0);
    b.send(READER_ADD);
    b.send(ATR);
    await b.frame(1);
    conn.socket.write(GUEST_SELECT);
    await b.frame(2);
    b.ws.terminate();
    await conn.waitFor(() => conn.isEnded, 5000, 'FIN');
    expect(written).toEqual([VSC.Error, VSC.CardRemove, VSC.ReaderRemove]);
    expect(conn.messages.slice(2).map((m) => m.type)).toEqual([2, 6]);
    // Only CardRemove awaited an ack, and got it.
    await until(() => rig.events.some((e) => e.kind === 'session-end'), 3000, 'session end');
    expect(rig.events.find((e) => e.kind === 'session-end')).toMatchObject({
      end: { isCleanupAcked: true },
    });
  });
});
