/**
 * What the resume tests share: opening a connection that offers resuming, reading the relay's
 * resume offer (a text frame), and a page stand-in that announces a card to a real QEMU.
 */
import {
  decodeMessage,
  encodeMessage,
  parseResumeOffer,
  RELAY_RESUME_CAPABILITY,
  RELAY_SUBPROTOCOL,
  type ResumeOffer,
  type VscardMessage,
} from '@cardlend/vscard';
import { type QemuHandle, startQemu } from '@cardlend/qemu-testbed';
import { afterEach, beforeEach, expect } from 'vitest';
import { mintToken } from '../src/auth/tokens.ts';
import type { RelayConfig } from '../src/config.ts';
import type { RelayServer, RelayServerOptions } from '../src/server.ts';
import type { ServerEvent } from '../src/server-events.ts';
import { announceCard } from './announce.ts';
import { Browser, startTestRelay, wsUrl } from './helpers.ts';

export const CAC_ATR = Uint8Array.from(Buffer.from('3b7a18000073667465206364313434', 'hex'));

/** A browser offering resuming (and the credential, if any), kept in `opened` for cleanup. */
export async function openResumable(
  relay: RelayServer,
  opened: Browser[],
  credential?: string,
): Promise<Browser> {
  const protocols = [RELAY_SUBPROTOCOL, RELAY_RESUME_CAPABILITY];
  if (credential !== undefined) protocols.push(credential);
  const b = new Browser(wsUrl(relay), protocols);
  opened.push(b);
  await b.opened;
  return b;
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
export class ResumingPage {
  readonly browser: Browser;
  #next = 0;
  constructor(browser: Browser) {
    this.browser = browser;
  }
  static async open(relay: RelayServer, opened: Browser[], credential: string) {
    return new ResumingPage(await openResumable(relay, opened, credential));
  }
  offer(): Promise<ResumeOffer> {
    return offerAt(this.browser, this.#next++);
  }
  async request(msg: VscardMessage): Promise<VscardMessage> {
    this.browser.send(encodeMessage(msg, { errorCodeByteOrder: 'le' }));
    return decodeMessage(Uint8Array.from(await this.browser.frame(this.#next++, 5000)));
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
}

/** Registers hooks: per test a QEMU 7.2 and a relay on it (`config`, `extra`), ended after it. */
export function qemuAndRelayPerTest(
  config: Partial<RelayConfig>,
  extra: Omit<RelayServerOptions, 'config' | 'onEvent'> = {},
): QemuAndRelay {
  let started: { qemu: QemuHandle; relay: RelayServer; events: ServerEvent[] } | undefined;
  const browsers: Browser[] = [];
  beforeEach(async () => {
    const qemu = await startQemu({ version: '7.2', debug: 2 });
    started = { qemu, ...(await startTestRelay(qemu.port, config, extra)) };
  });
  afterEach(async () => {
    for (const b of browsers.splice(0)) b.ws.terminate();
    await started?.relay.close();
    await started?.qemu.stop();
    started = undefined;
  });
  const get = () => {
    if (started === undefined) throw new Error('QEMU and the relay start in beforeEach');
    return started;
  };
  return {
    get qemu() {
      return get().qemu;
    },
    get relay() {
      return get().relay;
    },
    get events() {
      return get().events;
    },
    open: (credential) => ResumingPage.open(get().relay, browsers, credential),
  };
}
