/**
 * Issue 11 §3 in the relay with a fake VM (fast): the subprotocol decides who splits; with
 * the long-answers contract a whole 1000-byte answer reaches the VM as 256 bytes + 61 00, the
 * guest's GET RESPONSEs are answered by the relay (never sent to the page), and they are not
 * left outstanding (the cleanup answers nothing when the page leaves).
 */
import {
  encodeMessage,
  RELAY_SUBPROTOCOL,
  RELAY_SUBPROTOCOL_LONG_ANSWERS,
  relaySubprotocols,
  VSC,
} from '@cardlend/vscard';
import { describe, expect, it } from 'vitest';
import { GUARD_POLICY } from '../src/session/guard-policy.ts';
import { type Browser, until } from './helpers.ts';
import { fakeVmRigPerTest } from './relay-rig.ts';

const rig = fakeVmRigPerTest({ isAutoAck: true }, () => ({
  extra: { framePolicy: GUARD_POLICY },
}));

const whole = Uint8Array.from({ length: 1002 }, (_, i) =>
  i < 1000 ? i & 0xff : i === 1000 ? 0x90 : 0,
);
const guestCommand = (apdu: number[]): Buffer =>
  Buffer.from(encodeMessage({ type: 'APDU', readerId: 0, apdu: Uint8Array.from(apdu) }));
const READ = [0x80, 0x10, 0x03, 0xe8, 0x00];
const GET_RESPONSE = (le: number): number[] => [0x00, 0xc0, 0x00, 0x00, le];

async function lend(protocols: string[]): Promise<Browser> {
  const b = await rig.open(protocols);
  b.send(encodeMessage({ type: 'ReaderAdd', readerId: 0, name: '' }));
  await b.frame(0);
  b.send(encodeMessage({ type: 'ATR', readerId: 0, atr: Uint8Array.of(0x3b, 0x02, 0x14, 0x50) }));
  await b.frame(1);
  return b;
}

/** The APDU answers the fake VM received, payloads. */
function answersAtVm(): Buffer[] {
  return (rig.vm.connections[0]?.messages ?? [])
    .filter((m) => m.type === VSC.APDU)
    .map((m) => m.payload);
}

describe('long answers in the relay (fake VM)', () => {
  it('long-answers contract: the relay splits and serves the GET RESPONSEs; the page sees one command', async () => {
    const b = await lend(relaySubprotocols(undefined, { longAnswers: true }));
    expect(b.ws.protocol).toBe(RELAY_SUBPROTOCOL_LONG_ANSWERS);
    const vm = rig.vm.connections[0];
    vm?.socket.write(guestCommand(READ));
    await b.frame(2);
    b.send(encodeMessage({ type: 'APDU', readerId: 0, apdu: whole }));
    await until(() => answersAtVm().length === 1);
    expect(answersAtVm()[0]?.length).toBe(258);
    expect([...(answersAtVm()[0]?.subarray(256) ?? [])]).toEqual([0x61, 0x00]);
    for (const [le, n] of [
      [0x00, 256],
      [0x00, 256],
      [0xe8, 232],
    ] as const) {
      vm?.socket.write(guestCommand(GET_RESPONSE(le)));
      const count = answersAtVm().length;
      await until(() => answersAtVm().length === count + 1);
      expect(answersAtVm()[count]?.length).toBe(n + 2);
    }
    const got = Buffer.concat(answersAtVm().map((a) => a.subarray(0, a.length - 2)));
    expect(got.equals(Buffer.from(whole.subarray(0, 1000)))).toBe(true);
    expect([...(answersAtVm()[3]?.subarray(232) ?? [])]).toEqual([0x90, 0x00]);
    expect(b.frames.filter((f) => f.isBinary && f.data.readUInt32BE(0) === VSC.APDU)).toHaveLength(
      1,
    );
    b.ws.close(1000);
    await until(() => rig.events.some((e) => e.kind === 'session-end'), 5000);
    const cleanup = rig.events.find(
      (e) => e.kind === 'session-event' && e.event.kind === 'cleanup',
    );
    expect(cleanup?.kind === 'session-event' && cleanup.event).toEqual({
      kind: 'cleanup',
      answered: 0,
    });
  });

  it('cardlend.vscard.v1: a whole answer over 374 bytes is refused (the page must split)', async () => {
    const b = await lend([RELAY_SUBPROTOCOL]);
    expect(b.ws.protocol).toBe(RELAY_SUBPROTOCOL);
    rig.vm.connections[0]?.socket.write(guestCommand(READ));
    await b.frame(2);
    b.send(encodeMessage({ type: 'APDU', readerId: 0, apdu: whole }));
    const closed = await b.closed;
    expect(closed.code).toBe(4015);
    expect(closed.reason).toMatch(/APDU answer with 1002 payload bytes \(allowed: 374\)/);
    expect(answersAtVm()).toEqual([]);
  });
});
