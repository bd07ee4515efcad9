/**
 * Issue 11 §3, page side: with the long-answers subprotocol the bridge sends each answer whole
 * and leaves the 61xx splitting and GET RESPONSE to the relay; with `cardlend.vscard.v1` (an
 * older relay) it splits and serves GET RESPONSE itself, as before.
 */
import {
  encodeRelayNotice,
  RELAY_SUBPROTOCOL,
  RELAY_SUBPROTOCOL_LONG_ANSWERS,
} from '@cardlend/vscard';
import { describe, expect, it } from 'vitest';
import { MAX_CHAIN_LINKS } from '@cardlend/vscard';
import { MachineDriver, T0_ATR } from './helpers/machine-driver.ts';

/** 2000 data bytes + 90 00, as a card answers a certificate read. */
const LONG = Uint8Array.from({ length: 2002 }, (_, i) =>
  i < 2000 ? i & 0xff : i === 2000 ? 0x90 : 0,
);
const READ = [0x00, 0xcb, 0x3f, 0xff, 0x05, 0x5c, 0x03, 0x5f, 0xc1, 0x05, 0x00];
const GET_RESPONSE = [0x00, 0xc0, 0x00, 0x00, 0x00];

function lentWith(protocol: string): MachineDriver {
  const d = new MachineDriver();
  d.feed((m, now) => m.start(now, true));
  d.opened(protocol);
  d.hostInit();
  d.ack(); // ReaderAdd
  d.reader('slot-status', 'inactive');
  d.reader('power-on', { atr: T0_ATR, protocol: 0 });
  d.ack(); // ATR
  return d;
}

/** The APDU answers sent to the VM since action `from`. */
function answers(d: MachineDriver, from: number): Uint8Array[] {
  return d.sent(from).flatMap((m) => (m.type === 'APDU' ? [m.apdu] : []));
}

/** Since action `from`, the VM got exactly one answer: the whole of LONG. */
function expectLongSentWhole(d: MachineDriver, from: number): void {
  const sent = answers(d, from);
  expect(sent).toHaveLength(1);
  expect(Buffer.from(sent[0] ?? []).equals(LONG)).toBe(true);
}

describe('long answers: who splits depends on the subprotocol the relay selected', () => {
  it('long-answers selected: the 2000-byte answer goes out whole, in one message', () => {
    const d = lentWith(RELAY_SUBPROTOCOL_LONG_ANSWERS);
    const from = d.actions.length;
    d.guest(READ);
    d.reader('transmit', LONG);
    expectLongSentWhole(d, from);
  });

  it('cardlend.vscard.v1 (an older relay): 256 bytes + 61 00, then GET RESPONSE from the buffer, never the card', () => {
    const d = lentWith(RELAY_SUBPROTOCOL);
    const from = d.actions.length;
    d.guest(READ);
    d.reader('transmit', LONG);
    const first = answers(d, from)[0] ?? new Uint8Array();
    expect(first.length).toBe(258);
    expect([...first.subarray(256)]).toEqual([0x61, 0x00]);
    const got = [...first.subarray(0, 256)];
    for (let i = 0; i < 7; i++) {
      const at = d.actions.length;
      d.guest(GET_RESPONSE);
      expect(d.pending).toEqual([]); // served by the bridge, the card is not asked
      const piece = answers(d, at)[0] ?? new Uint8Array();
      got.push(...piece.subarray(0, piece.length - 2));
    }
    expect(Buffer.from(got).equals(LONG.subarray(0, 2000))).toBe(true);
  });

  it('a reconnect to an older relay splits again (the limit follows each connection)', () => {
    const d = lentWith(RELAY_SUBPROTOCOL_LONG_ANSWERS);
    d.closed(1006);
    d.fire('reconnect');
    d.opened(RELAY_SUBPROTOCOL);
    d.hostInit();
    d.ack(); // ReaderAdd
    d.ack(); // ATR of the card still powered
    const from = d.actions.length;
    d.guest(READ);
    d.reader('transmit', LONG);
    expect(answers(d, from)[0]?.length).toBe(258);
  });

  it("long-answers selected: a card's own 61xx chain is collected over USB and sent whole", () => {
    const d = lentWith(RELAY_SUBPROTOCOL_LONG_ANSWERS);
    const from = d.actions.length;
    d.guest(READ);
    const piece = (at: number, n: number, sw: number[]): Uint8Array =>
      Uint8Array.from([...LONG.subarray(at, at + n), ...sw]);
    d.reader('transmit', piece(0, 256, [0x61, 0x00]));
    d.reader('transmit', piece(256, 256, [0x61, 0x00]));
    d.reader('transmit', piece(512, 256, [0x61, 0xe8]));
    d.reader('transmit', piece(768, 1232, [0x90, 0x00]));
    const transmits = d.actions
      .slice(from)
      .flatMap((a) => (a.type === 'reader' && a.request.kind === 'transmit' ? [a.request] : []));
    expect(transmits.slice(1).map((r) => Buffer.from(r.apdu).toString('hex'))).toEqual([
      '00c0000000',
      '00c0000000',
      '00c00000e8',
    ]);
    expectLongSentWhole(d, from);
  });

  it('a card answering 61xx without data forever: collection stops after MAX_CHAIN_LINKS', () => {
    const d = lentWith(RELAY_SUBPROTOCOL_LONG_ANSWERS);
    const from = d.actions.length;
    d.guest(READ);
    for (let i = 0; i <= MAX_CHAIN_LINKS; i++) d.reader('transmit', Uint8Array.of(0x61, 0x10));
    expect(d.pending).toEqual([]);
    expect(answers(d, from)).toEqual([Uint8Array.of(0x61, 0x10)]);
  });

  it("cardlend.vscard.v1: the card's 61xx answer goes to the VM as it is (the guest asks for the rest)", () => {
    const d = lentWith(RELAY_SUBPROTOCOL);
    const from = d.actions.length;
    d.guest(READ);
    d.reader('transmit', Uint8Array.from([...LONG.subarray(0, 256), 0x61, 0x00]));
    expect(d.pending).toEqual([]);
    expect(answers(d, from)[0]?.length).toBe(258);
  });

  it("a relay notice (text frame) is logged with the relay's sentence; the connection stays", () => {
    const d = lentWith(RELAY_SUBPROTOCOL_LONG_ANSWERS);
    const from = d.actions.length;
    const text = encodeRelayNotice({
      code: 'nagle-suspected',
      message: "This VM's smart-card channel adds about 42 ms per command: …",
      typicalStallMs: 42,
    });
    d.feed((m, now) => m.socketMessage(d.socket, text, now));
    const logs = d.actions.slice(from).filter((a) => a.type === 'log');
    expect(logs).toHaveLength(1);
    expect(JSON.stringify(logs[0])).toContain('adds about 42 ms per command');
    expect(d.of('close-socket', from)).toEqual([]);
    // The state carries it for the page's helpdesk details (code and the measured stall).
    expect(d.m.state.relayNotice).toEqual({ code: 'nagle-suspected', typicalStallMs: 42 });
  });

  it('a server selecting neither is not a cardlend relay', () => {
    const d = new MachineDriver();
    d.feed((m, now) => m.start(now, true));
    d.opened('chat');
    expect(d.sentTypes()).toEqual([]);
  });
});
