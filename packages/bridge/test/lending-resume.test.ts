/**
 * Resuming the lending session after a drop (issue 14 §1): the machine alone, every input a
 * call (helpers/machine-driver.ts).
 */
import { encodeResumeOffer, RelayClose, resumeTicketFromBytes } from '@cardlend/vscard';
import { describe, expect, it } from 'vitest';
import { ResumeTicket } from '../src/lending/resume.ts';
import { BridgeError } from '../src/errors.ts';
import { MachineDriver } from './helpers/machine-driver.ts';

const TICKET_A = resumeTicketFromBytes(new Uint8Array(16).fill(1));
const TICKET_B = resumeTicketFromBytes(new Uint8Array(16).fill(2));

function offer(d: MachineDriver, ticket: string, graceMs = 30_000): void {
  d.feed((m, now) => m.socketMessage(d.socket, encodeResumeOffer({ ticket, graceMs }), now));
}

/** The ticket the last open-socket action presented, if any. */
function presented(d: MachineDriver): string | undefined {
  return d.of('open-socket').at(-1)?.ticket;
}

/** Lent, with TICKET_A offered, then the connection drops and the retry timer fires. */
function droppedAndRetrying(): MachineDriver {
  const d = new MachineDriver();
  d.lend();
  offer(d, TICKET_A);
  d.closed(1006);
  expect(d.m.state).toMatchObject({ link: 'reconnecting', resume: 'resuming' });
  d.fire('reconnect');
  return d;
}

describe('resuming the lending session', () => {
  it('the first connection presents the token; a drop reconnects with the ticket and resumes', () => {
    const d = new MachineDriver();
    d.lend();
    expect(presented(d)).toBeUndefined();
    expect(d.m.state.resume).toBeUndefined();
    offer(d, TICKET_A);
    // The offer is no VSCard message: nothing failed, nothing sent.
    expect(d.m.state.link).toBe('lent');
    d.closed(1006);
    d.fire('reconnect');
    expect(presented(d)).toBe(TICKET_A);
    const from = d.actions.length;
    d.opened();
    d.hostInit();
    d.ack(); // ReaderAdd
    expect(d.m.state).toMatchObject({ link: 'lent', resume: 'resumed' });
    // The card is announced again with its ATR, as on every connection.
    d.ack();
    expect(d.sentTypes(from)).toEqual(['Init', 'ReaderAdd', 'ATR']);
    expect(d.m.state.card?.vmStatus).toBe('accepted');
  });

  it('a new offer after the resume replaces the used ticket', () => {
    const d = droppedAndRetrying();
    d.opened();
    d.hostInit();
    d.ack();
    offer(d, TICKET_B);
    d.closed(1006);
    d.fire('reconnect');
    expect(presented(d)).toBe(TICKET_B);
  });

  it('a drop before the relay answered keeps presenting the same ticket', () => {
    const d = droppedAndRetrying();
    d.closed(1006); // relay unreachable for a moment
    expect(d.m.state.resume).toBe('resuming');
    d.fire('reconnect');
    expect(presented(d)).toBe(TICKET_A);
  });

  it.each([RelayClose.RESUME_EXPIRED, RelayClose.RESUME_USED, RelayClose.RESUME_UNKNOWN])(
    'close %i to the ticket and a spent one-time token: lending ends with the resume refusal',
    (code) => {
      const d = droppedAndRetrying();
      d.closed(code, 'why');
      expect(d.m.state).toMatchObject({ link: 'reconnecting', resume: 'cannot-resume' });
      d.fire('reconnect');
      expect(presented(d)).toBeUndefined(); // the token, once more
      d.closed(RelayClose.TOKEN_USED);
      expect(d.m.state).toMatchObject({
        link: 'refused',
        resume: 'cannot-resume',
        error: { code: 'BRIDGE_RESUME_REFUSED', source: { kind: 'relay-close', code } },
        closeCode: code,
      });
      expect(d.timers.has('reconnect')).toBe(false);
      expect(d.of('ended')).toHaveLength(1);
    },
  );

  it('a refused ticket and a token that still works (no tokens, relay restarted): a fresh session, not "resumed"', () => {
    const d = droppedAndRetrying();
    d.closed(RelayClose.RESUME_UNKNOWN);
    d.fire('reconnect');
    expect(presented(d)).toBeUndefined();
    d.opened();
    d.hostInit();
    d.ack();
    expect(d.m.state.link).toBe('lent');
    expect(d.m.state.resume).toBeUndefined();
  });

  it('a close with a code (the relay ended the session itself) drops the ticket: the token again', () => {
    const d = new MachineDriver();
    d.lend();
    offer(d, TICKET_A);
    d.closed(RelayClose.VM_CLOSED);
    expect(d.m.state.resume).toBeUndefined();
    d.fire('reconnect');
    expect(presented(d)).toBeUndefined();
  });

  it('retries used up while resuming: cannot-resume', () => {
    const d = droppedAndRetrying(); // 3 attempts
    d.closed(1006);
    d.fire('reconnect');
    d.closed(1006);
    d.fire('reconnect');
    d.closed(1006);
    expect(d.m.state).toMatchObject({ link: 'failed', resume: 'cannot-resume' });
  });

  it('stop while resuming: stopped, nothing said about resuming', () => {
    const d = droppedAndRetrying();
    d.closed(1006);
    d.feed((m, now) => m.stop(now));
    d.reader('power-off', undefined);
    expect(d.m.state.link).toBe('stopped');
    expect(d.m.state.resume).toBeUndefined();
  });

  it('without resuming, a text frame is still a protocol failure', () => {
    const d = new MachineDriver({ isResumable: false });
    d.lend();
    offer(d, TICKET_A);
    expect(d.of('close-socket')).toHaveLength(1);
    d.closed(1002);
    expect(d.m.state).toMatchObject({ link: 'failed', error: { code: 'BRIDGE_RELAY_PROTOCOL' } });
  });

  it('a text frame that is not an offer fails the connection as before', () => {
    const d = new MachineDriver();
    d.lend();
    d.feed((m, now) => m.socketMessage(d.socket, '{"type":"hello"}', now));
    d.closed(1002);
    expect(d.m.state).toMatchObject({ link: 'failed', error: { code: 'BRIDGE_RELAY_PROTOCOL' } });
  });
});

describe('ResumeTicket (table)', () => {
  const err = (code: number): BridgeError =>
    new BridgeError('BRIDGE_RESUME_REFUSED', { closeCode: code });
  // prettier-ignore
  const cases: { name: string; presented: boolean; code: number; isRefused: boolean; kind: string; ticketAfter: boolean }[] = [
    { name: 'drop with ticket', presented: true, code: 1006, isRefused: false, kind: 'usual', ticketAfter: true },
    { name: 'dropped before presenting', presented: false, code: 1006, isRefused: false, kind: 'usual', ticketAfter: true },
    { name: 'expired', presented: true, code: 4016, isRefused: true, kind: 'token-fallback', ticketAfter: false },
    { name: 'used', presented: true, code: 4017, isRefused: true, kind: 'token-fallback', ticketAfter: false },
    { name: 'unknown', presented: true, code: 4018, isRefused: true, kind: 'token-fallback', ticketAfter: false },
    { name: 'token refused, no ticket refused before', presented: false, code: 4002, isRefused: true, kind: 'usual', ticketAfter: false },
    { name: 'VM closed: the relay ended the session', presented: false, code: 4011, isRefused: false, kind: 'usual', ticketAfter: false },
    { name: 'relay going away', presented: true, code: 1001, isRefused: false, kind: 'usual', ticketAfter: false },
  ];
  it.each(cases)('$name → $kind', (c) => {
    const t = new ResumeTicket(true);
    expect(t.receive(encodeResumeOffer({ ticket: TICKET_A, graceMs: 1000 }))).toBe(true);
    expect(t.closed(c.presented, c.code, c.isRefused, err(c.code)).kind).toBe(c.kind);
    expect(t.ticket !== undefined).toBe(c.ticketAfter);
  });

  it('a refused ticket, then a refused token: over, with the ticket refusal', () => {
    const t = new ResumeTicket(true);
    t.receive(encodeResumeOffer({ ticket: TICKET_A, graceMs: 1000 }));
    t.closed(true, 4016, true, err(4016));
    const v = t.closed(false, 4002, true, err(4002));
    expect(v.kind === 'over' ? v.error.closeCode : null).toBe(4016);
  });

  it('disabled: no offer is ever kept', () => {
    const t = new ResumeTicket(false);
    expect(t.receive(encodeResumeOffer({ ticket: TICKET_A, graceMs: 1000 }))).toBe(false);
    expect(t.ticket).toBeUndefined();
  });

  it('a fresh session clears a pending ticket refusal', () => {
    const t = new ResumeTicket(true);
    t.receive(encodeResumeOffer({ ticket: TICKET_A, graceMs: 1000 }));
    t.closed(true, 4018, true, err(4018));
    t.freshSession();
    expect(t.closed(false, 4002, true, err(4002)).kind).toBe('usual');
  });
});
