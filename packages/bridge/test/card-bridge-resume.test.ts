/**
 * CardBridge resuming after a drop (issue 14 §1) over a real `ws` server (the VSCard host
 * double standing in for the relay): the offer arrives as a text frame, the reconnect presents
 * the ticket instead of the token, and the same card is announced again. The relay's side of
 * resuming is tested in apps/relay.
 */
import { encodeResumeOffer, RelayClose, resumeTicketFromBytes } from '@cardlend/vscard';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CardBridge } from '../src/card-bridge.ts';
import type { BridgeOptions, BridgeState } from '../src/card-bridge.ts';
import { FAST_WS_BRIDGE_OPTIONS } from './helpers/fast-bridge.ts';
import { CAC_T0_ATR, makeCard } from './helpers/cards.ts';
import { ScriptedReader } from './helpers/scripted-reader.ts';
import { VscardHostDouble } from './helpers/vscard-host.ts';

const TOKEN = 'v1.eyJ0aWQiOiJ2bSJ9.abc';
const TICKET = resumeTicketFromBytes(new Uint8Array(16).fill(7));

let host: VscardHostDouble;
let reader: ScriptedReader;
let bridge: CardBridge | null = null;

beforeEach(async () => {
  host = await VscardHostDouble.start();
  reader = new ScriptedReader();
  reader.card = makeCard({ atr: CAC_T0_ATR, protocol: 0 });
});

afterEach(async () => {
  reader.release();
  await bridge?.stop();
  bridge = null;
  await host.close();
});

function start(extra: Partial<BridgeOptions> = {}): CardBridge {
  bridge = new CardBridge({
    reader,
    relayUrl: host.url,
    token: TOKEN,
    ...FAST_WS_BRIDGE_OPTIONS,
    ...extra,
  });
  return bridge;
}

function until(b: CardBridge, check: (s: BridgeState) => boolean, what: string): Promise<void> {
  if (check(b.state)) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => {
      off();
      reject(new Error(`timed out waiting for ${what}; state ${JSON.stringify(b.state)}`));
    }, 3000);
    const off = b.onState((s) => {
      if (!check(s)) return;
      clearTimeout(t);
      off();
      resolve();
    });
  });
}

describe('CardBridge resuming', () => {
  it('a dropped connection comes back with the ticket, not the token, and re-announces the card', async () => {
    const b = start();
    await b.start();
    await until(b, (s) => s.card?.vmStatus === 'accepted', 'ATR accepted');
    const first = host.connections[0];
    expect(first?.protocols).toContain(`cardlend.token.${TOKEN}`);
    expect(first?.protocols).toContain('cardlend.resume.v1');
    first?.socket.send(encodeResumeOffer({ ticket: TICKET, graceMs: 30_000 }));
    // A text frame after it would fail the link if the offer were taken as VSCard: send a
    // guest command behind it and wait for its answer (ordered on the same socket).
    expect(await host.guestCommand('00A40400')).toMatchObject({ kind: 'answer' });

    host.terminateClient();
    await until(b, (s) => s.resume === 'resumed' && s.card?.vmStatus === 'accepted', 'resumed');
    const second = host.connections[1];
    expect(second?.protocols).toContain(`cardlend.ticket.${TICKET}`);
    expect(second?.protocols.some((p) => p.startsWith('cardlend.token.'))).toBe(false);
    expect(host.types(1)).toEqual(['Init', 'ReaderAdd', 'ATR']);
    expect(b.state.link).toBe('lent');
  });

  it('a ticket the relay no longer honours ends lending as cannot-resume', async () => {
    const b = start();
    await b.start();
    await until(b, (s) => s.card?.vmStatus === 'accepted', 'ATR accepted');
    host.connections[0]?.socket.send(encodeResumeOffer({ ticket: TICKET, graceMs: 30_000 }));
    host.opts.refuseWith = { code: RelayClose.RESUME_EXPIRED, reason: 'Resume ticket expired' };
    // Let the offer arrive before the drop: the host double answers a guest command after it.
    expect(await host.guestCommand('00A40400')).toMatchObject({ kind: 'answer' });
    host.terminateClient();
    await until(b, (s) => s.link === 'refused', 'refused');
    expect(b.state).toMatchObject({
      resume: 'cannot-resume',
      closeCode: RelayClose.RESUME_EXPIRED,
      error: { code: 'BRIDGE_RESUME_REFUSED' },
    });
  });
});
