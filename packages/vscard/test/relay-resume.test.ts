import { describe, expect, it } from 'vitest';
import {
  encodeResumeOffer,
  isResumeTicket,
  MAX_RESUME_GRACE_MS,
  offeredResume,
  parseResumeOffer,
  RELAY_RESUME_CAPABILITY,
  RELAY_SUBPROTOCOL,
  relaySubprotocols,
  resumeTicketFromBytes,
} from '../src/relay-contract.ts';

const TICKET = resumeTicketFromBytes(new Uint8Array(16).fill(0xfb));

describe('resume tickets (issue 14 §1)', () => {
  it('a ticket is r1. and 22 base64url characters of the 16 random bytes', () => {
    expect(resumeTicketFromBytes(new Uint8Array(16))).toBe('r1.AAAAAAAAAAAAAAAAAAAAAA');
    expect(TICKET).toBe('r1.-_v7-_v7-_v7-_v7-_v7-w');
    const counting = resumeTicketFromBytes(Uint8Array.from({ length: 16 }, (_, i) => i * 17));
    expect(counting).toBe(
      `r1.${Buffer.from(Uint8Array.from({ length: 16 }, (_, i) => i * 17)).toString('base64url')}`,
    );
    expect(isResumeTicket(counting)).toBe(true);
    expect(() => resumeTicketFromBytes(new Uint8Array(15))).toThrow(RangeError);
  });

  it.each([
    ['r1.AAAAAAAAAAAAAAAAAAAAAA', true],
    ['r1.AAAAAAAAAAAAAAAAAAAAA', false],
    ['r2.AAAAAAAAAAAAAAAAAAAAAA', false],
    ['r1.AAAAAAAAAAAAAAAAAAAA+A', false],
    ['', false],
  ])('isResumeTicket(%j) = %s', (s, ok) => {
    expect(isResumeTicket(s)).toBe(ok);
  });

  it('the offer round-trips; anything else in a text frame is not an offer', () => {
    const text = encodeResumeOffer({ ticket: TICKET, graceMs: 30_000 });
    expect(JSON.parse(text)).toEqual({ type: 'resume', ticket: TICKET, graceMs: 30_000 });
    expect(parseResumeOffer(text)).toEqual({ ticket: TICKET, graceMs: 30_000 });
    expect(() => encodeResumeOffer({ ticket: 'x', graceMs: 1 })).toThrow(TypeError);
  });

  it.each([
    ['not json', '{'],
    ['an array', '[]'],
    ['null', 'null'],
    ['another type', JSON.stringify({ type: 'hello', ticket: TICKET, graceMs: 1 })],
    ['a bad ticket', JSON.stringify({ type: 'resume', ticket: 'r1.x', graceMs: 1 })],
    ['no grace', JSON.stringify({ type: 'resume', ticket: TICKET })],
    ['a zero grace', JSON.stringify({ type: 'resume', ticket: TICKET, graceMs: 0 })],
    ['a text grace', JSON.stringify({ type: 'resume', ticket: TICKET, graceMs: '5' })],
  ])('%s is not an offer', (_what, text) => {
    expect(parseResumeOffer(text)).toBeNull();
  });

  it('a grace longer than the client accepts is clamped', () => {
    const text = JSON.stringify({ type: 'resume', ticket: TICKET, graceMs: 1e12 });
    expect(parseResumeOffer(text)?.graceMs).toBe(MAX_RESUME_GRACE_MS);
  });

  it('a resumable client offers the marker; a reconnect offers the ticket instead of the token', () => {
    expect(relaySubprotocols('tok', { resumable: true })).toEqual([
      RELAY_SUBPROTOCOL,
      'cardlend.token.tok',
      RELAY_RESUME_CAPABILITY,
    ]);
    expect(relaySubprotocols('tok', { resumable: true, ticket: TICKET })).toEqual([
      RELAY_SUBPROTOCOL,
      `cardlend.ticket.${TICKET}`,
      RELAY_RESUME_CAPABILITY,
    ]);
  });

  it('the relay reads marker and ticket from what was offered', () => {
    expect(offeredResume(relaySubprotocols('tok'))).toEqual({ capable: false, ticket: null });
    expect(offeredResume(relaySubprotocols('tok', { resumable: true }))).toEqual({
      capable: true,
      ticket: null,
    });
    expect(offeredResume(relaySubprotocols('', { resumable: true, ticket: TICKET }))).toEqual({
      capable: true,
      ticket: TICKET,
    });
  });
});
