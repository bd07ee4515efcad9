/**
 * Parking and resuming a lending session (issue 14 §1) against a fake VM: what the VM side
 * receives while the browser is gone, a reconnect with the ticket taking over the same VM
 * connection, a close frame that ends at once, and the grace running out. The grace timer is
 * held by the test (HeldTimers): no sleeping.
 */
import {
  parseResumeOffer,
  RELAY_RESUME_CAPABILITY,
  RELAY_SUBPROTOCOL,
  RELAY_TICKET_SUBPROTOCOL_PREFIX,
  RelayClose,
} from '@cardlend/vscard';
import { describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { Browser, HeldTimers, type HostConnection, msg, until, wsUrl } from './helpers.ts';
import { fakeVmRigPerTest } from './relay-rig.ts';
import { cutUntilParked, offerAt, openResumable } from './resume-helpers.ts';

const GRACE_MS = 7777;
const T = { Error: 2, ReaderRemove: 4, CardRemove: 6, APDU: 7 } as const;

let timers: HeldTimers;
const rig = fakeVmRigPerTest({}, () => {
  timers = new HeldTimers(GRACE_MS);
  return { config: { resumeGraceMs: GRACE_MS }, extra: { sessionTimers: timers } };
});

const open = (credential?: string): Promise<Browser> => openResumable(rig, credential);
const offerOf = offerAt;

const types = (c: HostConnection): number[] => c.messages.map((m) => m.type);
const count = (c: HostConnection, type: number): number =>
  types(c).filter((t) => t === type).length;

describe('a parked lending session', () => {
  it('answers the guest while parked, keeps the card, and is taken over by the ticket', async () => {
    const first = await open();
    const offer = await offerOf(first);
    expect(offer.graceMs).toBe(GRACE_MS);
    const c = await rig.vm.nextConnection(0);
    c.socket.write(msg(T.APDU, 0, '00A4040000')); // a guest command the browser never answers
    await first.frame(1);

    const session = await cutUntilParked(rig.relay, first);
    await c.waitFor(() => count(c, T.Error) === 1, 3000, 'the outstanding command answered');
    c.socket.write(msg(T.APDU, 0, '00B0000000')); // the guest asks again meanwhile
    await c.waitFor(() => count(c, T.Error) === 2, 3000, 'answered at once while parked');

    const second = await open(RELAY_TICKET_SUBPROTOCOL_PREFIX + offer.ticket);
    expect((await offerOf(second)).ticket).not.toBe(offer.ticket);
    expect(rig.relay.sessions.get('default')).toBe(session);
    c.socket.write(msg(T.APDU, 0, '00CA010000'));
    const frame = await second.frame(1);
    expect(second.frames[1]?.isBinary).toBe(true);
    expect(frame.readUInt32BE(0)).toBe(T.APDU);
    // One VM connection throughout, and never a removal.
    expect(rig.vm.connections).toHaveLength(1);
    expect(count(c, T.CardRemove) + count(c, T.ReaderRemove)).toBe(0);
    // The resumed browser answers the guest as usual.
    second.send(msg(T.APDU, 0, '9000'));
    await c.waitFor(() => count(c, T.APDU) === 1, 3000, 'the answer reaches the VM');
  });

  it('after the grace: CardRemove and ReaderRemove, session over, ticket expired', async () => {
    const first = await open();
    const offer = await offerOf(first);
    const c = await rig.vm.nextConnection(0);
    await cutUntilParked(rig.relay, first);
    expect(timers.held.size).toBe(1);
    timers.release(); // the grace is over
    await c.waitFor(
      () => count(c, T.CardRemove) === 1 && count(c, T.ReaderRemove) === 1,
      3000,
      'removals',
    );
    await until(() => rig.relay.sessions.size === 0, 3000, 'session end');
    const late = new Browser(wsUrl(rig.relay), [
      RELAY_SUBPROTOCOL,
      RELAY_RESUME_CAPABILITY,
      RELAY_TICKET_SUBPROTOCOL_PREFIX + offer.ticket,
    ]);
    rig.browsers.push(late);
    expect((await late.closed).code).toBe(RelayClose.RESUME_EXPIRED);
  });

  it('a close frame (Stop, a closed tab) ends the session at once: no parking', async () => {
    const first = await open();
    await offerOf(first);
    const c = await rig.vm.nextConnection(0);
    first.ws.close(1000);
    await c.waitFor(() => count(c, T.CardRemove) === 1, 3000, 'CardRemove');
    expect(timers.held.size).toBe(0);
  });

  it('a ticket presented while the relay still holds the old socket takes the session over', async () => {
    const first = await open();
    const offer = await offerOf(first);
    const c = await rig.vm.nextConnection(0);
    const second = await open(RELAY_TICKET_SUBPROTOCOL_PREFIX + offer.ticket);
    await offerOf(second);
    expect((await first.closed).code).toBe(1006);
    c.socket.write(msg(T.APDU, 0, '00A4040000'));
    expect((await second.frame(1)).readUInt32BE(0)).toBe(T.APDU);
    expect(count(c, T.CardRemove)).toBe(0);
  });

  it('a client that did not offer resuming is not parked', async () => {
    const b = await rig.open([RELAY_SUBPROTOCOL]);
    const c = await rig.vm.nextConnection(0);
    b.ws.terminate();
    await c.waitFor(() => count(c, T.CardRemove) === 1, 3000, 'CardRemove');
    expect(b.frames).toHaveLength(0);
  });

  it('a connection that stops answering pings is a drop: the session parks and resumes', async () => {
    await rig.startRelay(
      rig.vm.port,
      { resumeGraceMs: GRACE_MS, pingIntervalMs: 50 },
      { sessionTimers: timers },
    );
    // A client whose network went silent: it never answers the relay's pings.
    const silent = new WebSocket(wsUrl(rig.relay), [RELAY_SUBPROTOCOL, RELAY_RESUME_CAPABILITY], {
      autoPong: false,
    });
    const texts: string[] = [];
    silent.on('message', (data: Buffer, isBinary: boolean) => {
      if (!isBinary) texts.push(data.toString('utf8'));
    });
    silent.on('error', () => {});
    const c = await rig.vm.nextConnection(0);
    await until(() => rig.relay.sessions.get('default')?.isParked === true, 5000, 'parked');
    expect(count(c, T.CardRemove)).toBe(0);
    const offer = parseResumeOffer(texts[0] ?? '');
    expect(offer).not.toBeNull();
    const back = await open(RELAY_TICKET_SUBPROTOCOL_PREFIX + (offer?.ticket ?? ''));
    await offerOf(back);
    expect(rig.relay.sessions.get('default')?.isParked).toBe(false);
    silent.terminate();
  });
});
