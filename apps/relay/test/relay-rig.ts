/**
 * What the relay's end-to-end tests share: per test a VM side (real QEMU of one version, or the
 * fake VM), a relay the test starts in front of it, and the pages it opens; after each test the
 * pages terminated, the relay closed and the VM side stopped (QEMU continued first: a test may
 * have paused it). Also a page that speaks VSCard through the relay with @cardlend/vscard's
 * codec.
 */
import { decodeMessage, encodeMessage, type VscardMessage } from '@cardlend/vscard';
import {
  ensureQemu10,
  startQemu,
  type QemuHandle,
  type QemuVersion,
  type StartQemuOptions,
} from '@cardlend/qemu-testbed';
import { afterEach, beforeAll, beforeEach, expect } from 'vitest';
import type { RelayConfig } from '../src/config.ts';
import type { RelayServer, RelayServerOptions } from '../src/server.ts';
import type { ServerEvent } from '../src/server-events.ts';
import { Browser, FakeVmHost, startTestRelay, wsUrl } from './helpers.ts';

/** A card's ATR QEMU accepts (a CAC card). */
export const CAC_ATR = Uint8Array.from(Buffer.from('3b7a18000073667465206364313434', 'hex'));

type TestRelayExtra = Omit<RelayServerOptions, 'config' | 'onEvent'>;

function started<T>(value: T | undefined, what: string): T {
  if (value === undefined) throw new Error(`the test has not started ${what}`);
  return value;
}

/** One test's relay and the pages opened on it. */
export class RelayRig {
  #relay: RelayServer | undefined;
  #events: ServerEvent[] = [];
  /** Pages terminated after the test. */
  readonly browsers: Browser[] = [];

  /** This test's relay; throws before {@link RelayRig.startRelay}. */
  get relay(): RelayServer {
    return started(this.#relay, 'the relay');
  }

  /** What the running relay reported. */
  get events(): ServerEvent[] {
    return this.#events;
  }

  /** Starts the relay (a running one is closed first); returns its event list. */
  async startRelay(...args: Parameters<typeof startTestRelay>): Promise<ServerEvent[]> {
    await this.#relay?.close();
    ({ relay: this.#relay, events: this.#events } = await startTestRelay(...args));
    return this.#events;
  }

  /** Closes the relay now, as a step of the test (the teardown then leaves it alone). */
  closeRelay(): Promise<void> {
    const relay = this.relay;
    this.#relay = undefined;
    return relay.close();
  }

  /** A client of the relay offering `protocols` (not awaited open), terminated after the test. */
  readonly connect = (protocols?: string[], opts: { origin?: string } = {}): Browser => {
    const b = new Browser(wsUrl(this.relay), protocols, opts);
    this.browsers.push(b);
    return b;
  };

  /** A page on the relay offering `protocols`, open, terminated after the test. */
  readonly open = async (protocols?: string[]): Promise<Browser> => {
    const b = this.connect(protocols);
    await b.opened;
    return b;
  };

  async teardown(): Promise<void> {
    for (const b of this.browsers.splice(0)) b.ws.terminate();
    await this.#relay?.close();
    this.#relay = undefined;
  }
}

/** The relays a test starts (several nodes, several configurations) and the pages it opens. */
export class RelayFleet {
  /** Closed after the test (a test that closes one itself removes it). */
  readonly relays: RelayServer[] = [];
  readonly browsers: Browser[] = [];

  /** Starts a relay ({@link startTestRelay}) that is closed after the test. */
  async start(...args: Parameters<typeof startTestRelay>): ReturnType<typeof startTestRelay> {
    const started = await startTestRelay(...args);
    this.relays.push(started.relay);
    return started;
  }

  /** A page on `relay` (not awaited open), terminated after the test. */
  browser(relay: RelayServer, protocols?: string[], opts: { origin?: string } = {}): Browser {
    const b = new Browser(wsUrl(relay), protocols, opts);
    this.browsers.push(b);
    return b;
  }

  async teardown(): Promise<void> {
    for (const b of this.browsers.splice(0)) b.ws.terminate();
    for (const r of this.relays.splice(0)) await r.close();
  }
}

/**
 * Registers the teardown of a {@link RelayFleet} after each test. After hooks run in reverse
 * order of registration: register this after what the relays must outlive (the VMs).
 */
export function relayFleetPerTest(): RelayFleet {
  const fleet = new RelayFleet();
  afterEach(() => fleet.teardown());
  return fleet;
}

/** One test's real QEMU and the relay in front of it (see {@link qemuRigPerTest}). */
export class QemuRig extends RelayRig {
  readonly #version: QemuVersion;
  #qemu: QemuHandle | undefined;

  constructor(version: QemuVersion) {
    super();
    this.#version = version;
  }

  /** This test's QEMU; throws before {@link QemuRig.startQemu}. */
  get qemu(): QemuHandle {
    return started(this.#qemu, 'QEMU');
  }

  /** Starts QEMU of the rig's version (a running one is stopped first). */
  async startQemu(opts: Omit<StartQemuOptions, 'version'> = {}): Promise<QemuHandle> {
    await this.stopQemu();
    this.#qemu = await startQemu({ ...opts, version: this.#version });
    return this.#qemu;
  }

  /** Stops this test's QEMU now. */
  async stopQemu(): Promise<void> {
    if (this.#qemu === undefined) return;
    try {
      process.kill(this.#qemu.pid, 'SIGCONT');
    } catch {
      // already gone
    }
    await this.#qemu.stop();
    this.#qemu = undefined;
  }

  override async teardown(): Promise<void> {
    await super.teardown();
    await this.stopQemu();
  }
}

/** Registers the hooks of a real-QEMU test file for `version`; the tests start what they need. */
export function qemuRigPerTest(version: QemuVersion): QemuRig {
  const rig = new QemuRig(version);
  beforeAll(async () => {
    if (version === '10.0') await ensureQemu10();
  });
  afterEach(() => rig.teardown());
  return rig;
}

/** One test's fake VM and the relay in front of it (see {@link fakeVmRigPerTest}). */
export class FakeVmRig extends RelayRig {
  #vm: FakeVmHost | undefined;

  /** This test's fake VM (started before each test). */
  get vm(): FakeVmHost {
    return started(this.#vm, 'the fake VM');
  }

  async startVm(opts: { isAutoAck?: boolean }): Promise<FakeVmHost> {
    this.#vm = await FakeVmHost.start(opts);
    return this.#vm;
  }

  override async teardown(): Promise<void> {
    await super.teardown();
    await this.#vm?.close();
    this.#vm = undefined;
  }
}

/**
 * Registers hooks: before each test a fake VM (`isAutoAck`) and, given `relayArgs`, a relay on
 * it with what that returns (called per test; without, the test starts its relay); all of it
 * ended after the test.
 */
export function fakeVmRigPerTest(
  vmOpts: { isAutoAck?: boolean },
  relayArgs?: () => { config?: Partial<RelayConfig>; extra?: TestRelayExtra },
): FakeVmRig {
  const rig = new FakeVmRig();
  beforeEach(async () => {
    const vm = await rig.startVm(vmOpts);
    if (relayArgs === undefined) return;
    const { config, extra } = relayArgs();
    await rig.startRelay(vm.port, config, extra);
  });
  afterEach(() => rig.teardown());
  return rig;
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
