/**
 * A resumed session is pinged and idles out like a fresh one (issue 14 §1 with issue 6's
 * heartbeat): after a park longer than a ping interval, after a pong-less drop, and after a
 * takeover right after a ping. The heartbeat wheel runs on Vitest's fake `setInterval` (only
 * that is faked: sockets and the other timers run as usual), so each step lets exactly whole
 * ping intervals pass; the resume grace is held by the test (HeldTimers).
 */
import { once } from 'node:events';
import {
  parseResumeOffer,
  RELAY_RESUME_CAPABILITY,
  RELAY_SUBPROTOCOL,
  RELAY_TICKET_SUBPROTOCOL_PREFIX,
  RelayClose,
  type ResumeOffer,
} from '@cardlend/vscard';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { WebSocket } from 'ws';
import type { RelaySession } from '../src/session/relay-session.ts';
import { HeldTimers, type HostConnection, until, wsUrl } from './helpers.ts';
import { fakeVmRigPerTest } from './relay-rig.ts';

const GRACE_MS = 7777;
const PING_INTERVAL_MS = 1600;
const IDLE_TIMEOUT_MS = 4 * PING_INTERVAL_MS;
const T = { CardRemove: 6 } as const;

const rig = fakeVmRigPerTest({});
let timers: HeldTimers;

beforeEach(async () => {
  vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval'] });
  timers = new HeldTimers(GRACE_MS);
  await rig.startRelay(
    rig.vm.port,
    { resumeGraceMs: GRACE_MS, pingIntervalMs: PING_INTERVAL_MS, idleTimeoutMs: IDLE_TIMEOUT_MS },
    { sessionTimers: timers },
  );
});
afterEach(() => {
  vi.useRealTimers();
});

/** A resumable page that answers the relay's pings while `answers` (by hand: no autoPong). */
class Page {
  readonly ws: WebSocket;
  readonly offers: ResumeOffer[] = [];
  pings = 0;
  answers = true;
  readonly closed: Promise<number>;

  constructor(credential?: string) {
    const protocols = [RELAY_SUBPROTOCOL, RELAY_RESUME_CAPABILITY];
    if (credential !== undefined) protocols.push(credential);
    this.ws = new WebSocket(wsUrl(rig.relay), protocols, { autoPong: false });
    this.ws.on('error', () => {});
    this.ws.on('ping', () => {
      this.pings++;
      if (this.answers) this.ws.pong();
    });
    this.ws.on('message', (data: Buffer, isBinary: boolean) => {
      const offer = isBinary ? null : parseResumeOffer(data.toString('utf8'));
      if (offer) this.offers.push(offer);
    });
    this.closed = once(this.ws, 'close').then(([code]) => code as number);
  }

  /** Opened and its resume offer read. */
  async ready(): Promise<this> {
    await until(() => this.offers.length > 0, 3000, 'resume offer');
    return this;
  }

  /**
   * A round trip on the connection: the relay has read everything the page sent before
   * (its pongs included) when the answer to this ping arrives.
   */
  async flushed(): Promise<void> {
    this.ws.ping();
    await once(this.ws, 'pong');
  }

  get ticket(): string {
    return this.offers.at(-1)?.ticket ?? '';
  }
}

/** Lets `n` ping intervals pass: every watched session is visited `n` times. */
async function intervals(n: number, page?: Page): Promise<void> {
  for (let i = 0; i < n; i++) {
    const before = page?.pings ?? 0;
    await vi.advanceTimersByTimeAsync(PING_INTERVAL_MS);
    if (page && page.ws.readyState === page.ws.OPEN) {
      await until(() => page.pings > before || page.ws.readyState !== page.ws.OPEN, 3000, 'ping');
      if (page.answers) await page.flushed();
    }
  }
}

async function lend(): Promise<{ page: Page; session: RelaySession; vm: HostConnection }> {
  const page = await new Page().ready();
  const vm = await rig.vm.nextConnection(0);
  const session = rig.relay.sessions.get('default');
  if (!session) throw new Error('no session');
  return { page, session, vm };
}

async function resume(from: Page, session: RelaySession): Promise<Page> {
  const next = await new Page(RELAY_TICKET_SUBPROTOCOL_PREFIX + from.ticket).ready();
  expect(session.isParked).toBe(false);
  return next;
}

const cardRemoves = (vm: HostConnection): number =>
  vm.messages.filter((m) => m.type === T.CardRemove).length;

describe('the heartbeat of a resumed session', () => {
  it('after a park longer than a ping interval: pinged again, and a missing pong parks it again', async () => {
    const { page, session, vm } = await lend();
    page.ws.terminate();
    await until(() => session.isParked, 3000, 'parked');
    await intervals(3); // parked: never pinged, never timed out; the grace decides
    expect(session.isParked).toBe(true);
    expect(timers.held.size).toBe(1);

    const back = await resume(page, session);
    await intervals(2, back);
    expect(back.pings).toBe(2);
    back.answers = false; // its network goes silent
    await intervals(2, back);
    await until(() => session.isParked, 3000, 'parked again');
    expect(await back.closed).toBe(1006);
    expect(cardRemoves(vm)).toBe(0);

    const third = await resume(back, session);
    await intervals(3, third);
    expect(third.pings).toBe(3);
    expect(session.isParked).toBe(false);
  });

  it('after a pong-less drop: the resumed session still idles out', async () => {
    const { page, session, vm } = await lend();
    page.answers = false;
    await intervals(2, page);
    await until(() => session.isParked, 3000, 'parked after a missing pong');

    const back = await resume(page, session);
    // The idle clock starts at the resume: not before the idle timeout, at most an interval later.
    await intervals(IDLE_TIMEOUT_MS / PING_INTERVAL_MS - 1, back);
    expect(back.ws.readyState).toBe(back.ws.OPEN);
    await intervals(2, back);
    expect(await back.closed).toBe(RelayClose.IDLE_TIMEOUT);
    await vm.waitFor(() => cardRemoves(vm) === 1, 3000, 'CardRemove');
    await until(() => rig.relay.sessions.size === 0, 3000, 'session over');
  });

  it('a takeover right after a ping owes no pong for it', async () => {
    const { page, session } = await lend();
    page.answers = false;
    await intervals(1, page); // pinged; the pong never comes
    const back = await resume(page, session); // takes the session over from the open socket
    expect(await page.closed).toBe(1006);
    await intervals(3, back);
    expect(back.pings).toBe(3);
    expect(session.isParked).toBe(false);
    expect(back.ws.readyState).toBe(back.ws.OPEN);
  });
});
