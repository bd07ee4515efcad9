/**
 * What the resume tests share: opening a connection that offers resuming, reading the relay's
 * resume offer (a text frame), and a page stand-in that announces a card to a real QEMU.
 */
import {
  parseResumeOffer,
  RELAY_RESUME_CAPABILITY,
  RELAY_SUBPROTOCOL,
  RELAY_TICKET_SUBPROTOCOL_PREFIX,
  RELAY_TOKEN_SUBPROTOCOL_PREFIX,
  type ResumeOffer,
} from '@cardlend/vscard';
import type { QemuHandle } from '@cardlend/qemu-testbed';
import { beforeEach, expect } from 'vitest';
import { mintToken } from '../src/auth/tokens.ts';
import type { RelayConfig } from '../src/config.ts';
import type { RelayServer, RelayServerOptions } from '../src/server.ts';
import type { ServerEvent } from '../src/server-events.ts';
import type { RelaySession } from '../src/session/relay-session.ts';
import { announceCard } from './announce.ts';
import { type Browser, until } from './helpers.ts';
import { CAC_ATR, qemuRigPerTest, type RelayRig, VscardBrowser } from './relay-rig.ts';

/** A page on `rig`'s relay offering resuming (and the credential, if any), open. */
export function openResumable(rig: RelayRig, credential?: string): Promise<Browser> {
  const protocols = [RELAY_SUBPROTOCOL, RELAY_RESUME_CAPABILITY];
  if (credential !== undefined) protocols.push(credential);
  return rig.open(protocols);
}

/**
 * Cuts `b` without a close frame (1006 at the relay) and waits until the session of the
 * default target is parked; returns that session.
 */
export async function cutUntilParked(relay: RelayServer, b: Browser): Promise<RelaySession> {
  const session = relay.sessions.get('default');
  if (session === undefined) throw new Error('no session on the default target');
  b.ws.terminate();
  await until(() => session.isParked, 3000, 'session parked');
  return session;
}

/** The resume offer the relay sent as frame `index` (a text frame). */
export async function offerAt(b: Browser, index = 0): Promise<ResumeOffer> {
  const frame = await b.frame(index);
  expect(b.frames[index]?.isBinary).toBe(false);
  const offer = parseResumeOffer(frame.toString('utf8'));
  if (offer === null) throw new Error(`not a resume offer: ${frame.toString('utf8')}`);
  return offer;
}

/** A resumable page stand-in: reads each offer and speaks VSCard in binary frames. */
export class ResumingPage extends VscardBrowser {
  offer(): Promise<ResumeOffer> {
    return offerAt(this.browser, this.nextIndex());
  }
  /** What the bridge sends on every (re)connect: Init, ReaderAdd, the card's ATR. */
  announce(): Promise<void> {
    return announceCard((msg) => this.request(msg), CAC_ATR);
  }
}

/** A one-time token for the default target, valid for a minute. */
export const mintTestToken = (secret: Uint8Array): string =>
  mintToken({ secret, targetId: 'default', ttlSeconds: 60, nowMs: Date.now() });

/** A test's real QEMU 7.2 and the relay in front of it (see {@link qemuAndRelayPerTest}). */
export interface QemuAndRelay {
  readonly qemu: QemuHandle;
  readonly relay: RelayServer;
  readonly events: ServerEvent[];
  /** A resumable page presenting `credential`, closed after the test. */
  open(credential: string): Promise<ResumingPage>;
  /** A page lending with a fresh one-time token: its resume offer read, the card announced. */
  lend(secret: Uint8Array): Promise<Lending>;
  /**
   * Cuts `page` without a close frame, waits until its session is parked, and takes it over
   * with `ticket`: the new page, its offer read and the card announced again.
   */
  cutAndResume(page: ResumingPage, ticket: string): Promise<Lending>;
}

/** A page that lends, with the resume offer it read last. */
export interface Lending {
  readonly page: ResumingPage;
  readonly offer: ResumeOffer;
}

/** Registers hooks: per test a QEMU 7.2 and a relay on it (`config`, `extra`), ended after it. */
export function qemuAndRelayPerTest(
  config: Partial<RelayConfig>,
  extra: Omit<RelayServerOptions, 'config' | 'onEvent'> = {},
): QemuAndRelay {
  const rig = qemuRigPerTest('7.2');
  beforeEach(async () => {
    const qemu = await rig.startQemu({ debug: 2 });
    await rig.startRelay(qemu.port, config, extra);
  });
  const open = async (credential: string): Promise<ResumingPage> =>
    new ResumingPage(await openResumable(rig, credential));
  const lendWith = async (credential: string): Promise<Lending> => {
    const page = await open(credential);
    const offer = await page.offer();
    await page.announce();
    return { page, offer };
  };
  return {
    get qemu() {
      return rig.qemu;
    },
    get relay() {
      return rig.relay;
    },
    get events() {
      return rig.events;
    },
    open,
    lend: (secret) => lendWith(RELAY_TOKEN_SUBPROTOCOL_PREFIX + mintTestToken(secret)),
    async cutAndResume(page, ticket) {
      await cutUntilParked(rig.relay, page.browser);
      return lendWith(RELAY_TICKET_SUBPROTOCOL_PREFIX + ticket);
    },
  };
}
