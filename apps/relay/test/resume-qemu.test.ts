/**
 * Resuming a lending session against real QEMU 7.2 (issue 14 §1): a one-time token opens the
 * session; the browser's connection is cut while the relay stays up; a reconnect with the
 * resume ticket continues the same session and QEMU never sees a CardRemove or ReaderRemove;
 * replays are refused with their own close codes; after the grace the card is removed as today.
 */
import {
  clientInit,
  decodeMessage,
  encodeMessage,
  RELAY_RESUME_CAPABILITY,
  RELAY_SUBPROTOCOL,
  RELAY_TICKET_SUBPROTOCOL_PREFIX,
  RELAY_TOKEN_SUBPROTOCOL_PREFIX,
  RelayClose,
  resumeTicketFromBytes,
} from '@cardlend/vscard';
import { describe, expect, it } from 'vitest';
import type { RelayServer } from '../src/server.ts';
import { Browser, until, wsUrl } from './helpers.ts';
import { CAC_ATR } from './relay-rig.ts';
import { cutUntilParked, mintTestToken, qemuAndRelayPerTest } from './resume-helpers.ts';

const SECRET = new Uint8Array(32).fill(0x5a);
const GRACE_MS = 1500;

async function refusedWith(relay: RelayServer, credential: string): Promise<number> {
  const b = new Browser(wsUrl(relay), [RELAY_SUBPROTOCOL, credential, RELAY_RESUME_CAPABILITY]);
  return (await b.closed).code;
}

describe('resuming a lending session through the relay, real QEMU 7.2', () => {
  const env = qemuAndRelayPerTest({ tokenSecrets: [SECRET], resumeGraceMs: GRACE_MS });
  const { open } = env;

  it('a cut connection resumes the same session with the ticket; the VM keeps the card', async () => {
    const token = mintTestToken(SECRET);
    const first = await open(RELAY_TOKEN_SUBPROTOCOL_PREFIX + token);
    const offer = await first.offer();
    expect(offer.graceMs).toBe(GRACE_MS);
    await first.announce();
    const session = env.relay.sessions.get('default');
    expect(session).toBeDefined();

    const mark = env.qemu.output.length;
    await cutUntilParked(env.relay, first.browser); // the relay stays up
    // The one-time token is spent: presenting it again is refused as before.
    expect(await refusedWith(env.relay, RELAY_TOKEN_SUBPROTOCOL_PREFIX + token)).toBe(
      RelayClose.TOKEN_USED,
    );

    const second = await open(RELAY_TICKET_SUBPROTOCOL_PREFIX + offer.ticket);
    const next = await second.offer();
    expect(next.ticket).not.toBe(offer.ticket);
    await second.announce();
    expect(env.relay.sessions.get('default')).toBe(session);
    expect(session?.isParked).toBe(false);
    // QEMU logged the re-announced card and never a removal of card or reader.
    await env.qemu.waitForLog(/VSC_ATR/, 3000, mark);
    const log = env.qemu.output.slice(mark).join('\n');
    expect(log).not.toMatch(/VSC_CardRemove/);
    expect(log).not.toMatch(/CCID Detach/);
    expect(env.events.some((e) => e.kind === 'session-event' && e.event.kind === 'resumed')).toBe(
      true,
    );

    // A replay of the used ticket, and a ticket never issued, are refused with their own codes.
    expect(await refusedWith(env.relay, RELAY_TICKET_SUBPROTOCOL_PREFIX + offer.ticket)).toBe(
      RelayClose.RESUME_USED,
    );
    const forged = resumeTicketFromBytes(new Uint8Array(16).fill(3));
    expect(await refusedWith(env.relay, RELAY_TICKET_SUBPROTOCOL_PREFIX + forged)).toBe(
      RelayClose.RESUME_UNKNOWN,
    );
    // The resumed session still serves the VM.
    await second.expectAck({ type: 'ATR', readerId: 0, atr: CAC_ATR });
  });

  it('after the grace the card and reader are removed and the ticket reads expired', async () => {
    const { page: first, offer } = await env.lend(SECRET);
    const mark = env.qemu.output.length;
    first.browser.ws.terminate();
    await env.qemu.waitForLog(/VSC_CardRemove/, GRACE_MS + 5000, mark);
    await env.qemu.waitForLog(/CCID Detach/, 3000, mark);
    await until(() => env.relay.sessions.size === 0, 3000, 'session end');
    expect(await refusedWith(env.relay, RELAY_TICKET_SUBPROTOCOL_PREFIX + offer.ticket)).toBe(
      RelayClose.RESUME_EXPIRED,
    );
  });

  it('a client that did not offer resuming gets no text frame and is cleaned up at once', async () => {
    const b = new Browser(wsUrl(env.relay), [
      RELAY_SUBPROTOCOL,
      RELAY_TOKEN_SUBPROTOCOL_PREFIX + mintTestToken(SECRET),
    ]);
    await b.opened;
    b.send(encodeMessage(clientInit()));
    const reply = await b.frame(0);
    expect(b.frames[0]?.isBinary).toBe(true);
    expect(decodeMessage(Uint8Array.from(reply))).toMatchObject({ type: 'Init' });
    const mark = env.qemu.output.length;
    b.send(encodeMessage({ type: 'ATR', readerId: 0, atr: CAC_ATR }));
    await b.frame(1);
    b.ws.terminate();
    await env.qemu.waitForLog(/VSC_CardRemove/, 3000, mark);
  });
});
