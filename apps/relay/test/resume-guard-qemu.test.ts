/**
 * Resuming a lending session with the relay's default frame policy (the forward guard,
 * session/guard-policy.ts) on real QEMU 7.2 (issue 14 §1 with issue 11): the page lends (Init,
 * ReaderAdd, ATR), its connection is cut without a close frame, a reconnect presenting the
 * resume ticket takes the parked session over and re-announces the reader and card the way the
 * bridge does; the guard accepts every message (no 4015), QEMU answers each, and the card is
 * never removed.
 */
import { describe, expect, it } from 'vitest';
import type { ServerEvent } from '../src/server-events.ts';
import { GUARD_POLICY } from '../src/session/guard-policy.ts';
import { CAC_ATR } from './relay-rig.ts';
import { qemuAndRelayPerTest } from './resume-helpers.ts';

const SECRET = new Uint8Array(32).fill(0x6b);
const GRACE_MS = 3000;

describe('resuming a session with the forward guard on, real QEMU 7.2', () => {
  const env = qemuAndRelayPerTest(
    { tokenSecrets: [SECRET], resumeGraceMs: GRACE_MS },
    { framePolicy: GUARD_POLICY },
  );

  const refusals = (): ServerEvent[] =>
    env.events.filter(
      (e) =>
        e.kind === 'session-event' &&
        (e.event.kind === 'frame-refused' || e.event.kind === 'bad-frame'),
    );

  it('a cut page resumes with its ticket, re-announces, and QEMU keeps serving', async () => {
    const { page: first, offer } = await env.lend(SECRET);
    const session = env.relay.sessions.get('default');
    expect(session).toBeDefined();

    const mark = env.qemu.output.length;
    const { page: second } = await env.cutAndResume(first, offer.ticket);
    expect(env.relay.sessions.get('default')).toBe(session);
    expect(session?.isParked).toBe(false);
    await env.qemu.waitForLog(/VSC_ATR/, 3000, mark);

    // The resumed session keeps working through the guard: a card change and back.
    await second.expectAck({ type: 'CardRemove', readerId: 0 });
    await second.expectAck({ type: 'ATR', readerId: 0, atr: CAC_ATR });
    expect(refusals()).toEqual([]);
    expect(second.browser.ws.readyState).toBe(second.browser.ws.OPEN);
    const log = env.qemu.output.slice(mark).join('\n');
    expect(log).not.toMatch(/CCID Detach/);
  });

  it('resumes a second time after a second cut', async () => {
    let { page, offer } = await env.lend(SECRET);
    const session = env.relay.sessions.get('default');
    for (let round = 0; round < 2; round++) {
      ({ page, offer } = await env.cutAndResume(page, offer.ticket));
    }
    expect(refusals()).toEqual([]);
    expect(env.relay.sessions.get('default')).toBe(session);
  });
});
