/**
 * What the real-QEMU tests of one QEMU version share: QEMU 10 fetched before the first test,
 * QEMU and the relay started by the test through the rig, and after each test the pages
 * terminated, the relay closed and QEMU stopped (continued first: a test may have paused it);
 * and a page that speaks VSCard through the relay with @cardlend/vscard's codec.
 */
import { decodeMessage, encodeMessage, type VscardMessage } from '@cardlend/vscard';
import {
  ensureQemu10,
  startQemu,
  type QemuHandle,
  type QemuVersion,
  type StartQemuOptions,
} from '@cardlend/qemu-testbed';
import { afterEach, beforeAll, expect } from 'vitest';
import type { RelayServer } from '../src/server.ts';
import type { ServerEvent } from '../src/server-events.ts';
import { Browser, startTestRelay, wsUrl } from './helpers.ts';

/** A card's ATR QEMU accepts (a CAC card). */
export const CAC_ATR = Uint8Array.from(Buffer.from('3b7a18000073667465206364313434', 'hex'));

/** One test's QEMU and relay (see {@link qemuRigPerTest}). */
export interface QemuRig {
  /** This test's QEMU; throws before {@link QemuRig.startQemu}. */
  readonly qemu: QemuHandle;
  /** This test's relay; throws before {@link QemuRig.startRelay}. */
  readonly relay: RelayServer;
  /** Starts QEMU of the rig's version (a running one is stopped first). */
  startQemu(opts?: Omit<StartQemuOptions, 'version'>): Promise<QemuHandle>;
  /** Stops this test's QEMU now. */
  stopQemu(): Promise<void>;
  /** Starts the relay (a running one is closed first); returns its event list. */
  startRelay(...args: Parameters<typeof startTestRelay>): Promise<ServerEvent[]>;
  /** A page on the relay offering `protocols`, open, terminated after the test. */
  open(protocols?: string[]): Promise<Browser>;
}

/** Registers the hooks of a real-QEMU test file for `version`; the tests start what they need. */
export function qemuRigPerTest(version: QemuVersion): QemuRig {
  let qemu: QemuHandle | undefined;
  let relay: RelayServer | undefined;
  const browsers: Browser[] = [];

  async function stopQemu(): Promise<void> {
    if (qemu === undefined) return;
    try {
      process.kill(qemu.pid, 'SIGCONT');
    } catch {
      // already gone
    }
    await qemu.stop();
    qemu = undefined;
  }

  beforeAll(async () => {
    if (version === '10.0') await ensureQemu10();
  });
  afterEach(async () => {
    for (const b of browsers.splice(0)) b.ws.terminate();
    await relay?.close();
    relay = undefined;
    await stopQemu();
  });

  const started = <T>(value: T | undefined, what: string): T => {
    if (value === undefined) throw new Error(`the test has not started ${what}`);
    return value;
  };
  return {
    get qemu() {
      return started(qemu, 'QEMU');
    },
    get relay() {
      return started(relay, 'the relay');
    },
    async startQemu(opts = {}) {
      await stopQemu();
      qemu = await startQemu({ ...opts, version });
      return qemu;
    },
    stopQemu,
    async startRelay(...args) {
      await relay?.close();
      const r = await startTestRelay(...args);
      relay = r.relay;
      return r.events;
    },
    async open(protocols) {
      const b = new Browser(wsUrl(started(relay, 'the relay')), protocols);
      browsers.push(b);
      await b.opened;
      return b;
    },
  };
}

/** A page speaking VSCard through the relay: each reply read in order. */
export class VscardBrowser {
  readonly browser: Browser;
  #next = 0;
  constructor(browser: Browser) {
    this.browser = browser;
  }
  /** The index of the next frame to read (each call moves on). */
  protected nextIndex(): number {
    return this.#next++;
  }
  send(msg: VscardMessage): void {
    this.browser.send(encodeMessage(msg, { errorCodeByteOrder: 'le' }));
  }
  /** The next message from QEMU (a real VM under load: 5 s). */
  async receive(timeoutMs = 5000): Promise<VscardMessage> {
    const frame = await this.browser.frame(this.nextIndex(), timeoutMs);
    return decodeMessage(Uint8Array.from(frame));
  }
  /** Sends and returns the reply (QEMU answers control messages synchronously, §3). */
  async request(msg: VscardMessage): Promise<VscardMessage> {
    this.send(msg);
    return this.receive();
  }
  /** Sends `msg` and expects QEMU's acknowledgement: an Error message with `code` (0: done). */
  async expectAck(msg: VscardMessage, code = 0): Promise<void> {
    expect(await this.request(msg)).toMatchObject({ type: 'Error', code });
  }
}
