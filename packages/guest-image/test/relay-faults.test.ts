/**
 * Fault test with a real guest (issue 6): the lending browser vanishes while the guest's APDU
 * is outstanding. A real Linux guest (pcscd + libccid + OpenSC) under QEMU talks through
 * usb-ccid + ccid-card-passthru to an in-process relay (@cardlend/relay); a raw `ws` client
 * plays the browser. On the chosen guest command it receives the APDU and drops the
 * WebSocket without answering — once abruptly (`terminate()`, no close frame) and once
 * cleanly (close 1000). Everything is judged from the guest's own markers: the pending APDU
 * fails (no hang, no stale answer), the guest sees an empty slot (no stale card), and a new
 * browser session through the same relay process lends again and the guest's APDUs work.
 * Relay behaviour on browser loss: apps/relay/src/relay.ts (outstanding commands answered
 * with VSC_Error, then CardRemove + ReaderRemove; vscard-protocol.md §5, §6 rules 7–8).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  defaultConfig,
  startRelayServer,
  type RelayServer,
  type ServerEvent,
  type SessionEnd,
} from '@cardlend/relay';
import { ensureQemu10 } from '@cardlend/qemu-testbed';
import {
  decodeMessage,
  encodeMessage,
  RELAY_PATH,
  RELAY_SUBPROTOCOL,
  VSC_MINIMAL_READER_ID,
  type VscardMessage,
} from '@cardlend/vscard';
import { describe, expect, it } from 'vitest';
import { WebSocket, type RawData } from 'ws';
import { freePort, startGuest, type GuestHandle } from '../src/boot-guest.ts';
import { waitForResult } from '../src/guest-results.ts';
import { bytesToHex, hexToBytes } from '../src/markers.ts';
import { createTestCard, TEST_CARD_AID, TEST_CARD_ATR, type SimpleCard } from '../src/test-card.ts';
import { useGuestFixture } from './guest-fixture.ts';

/** Whole boot (three lending sessions), ms; boots stretch to ~25 s on the loaded 2-core machine. */
const BOOT_TIMEOUT_MS = 180_000;
/**
 * How long the guest may take to report the failed APDU after the drop, ms. A guest left
 * waiting would sit in libccid's own timeout (minutes, vscard-protocol.md §4), so any bound
 * well under that tells "answered with an error" from "hangs".
 */
const FAILURE_WITHIN_MS = 45_000;

const SELECT = `00A40400${TEST_CARD_AID.length.toString(16).padStart(2, '0')}${bytesToHex(TEST_CARD_AID)}`;
/** The echo command (test card `80 20`): the browser drops on this one. */
const ECHO_DATA = 'c0ffee0102';
const ECHO = `80200000${(ECHO_DATA.length / 2).toString(16).padStart(2, '0')}${ECHO_DATA}`;
/** Ping (test card `80 30`), sent after the echo; never reached in a dropped session. */
const PING = '80300000';

const fixture = useGuestFixture();

/** How the browser goes away: TCP torn down without a close frame, or a clean close 1000. */
type DropMode = 'terminate' | 'close';

/**
 * A browser stand-in: a raw `ws` client that lends `card` through the relay (one VSCard
 * message per binary frame, vscard-protocol.md §6) and answers guest commands until one
 * matches `dropOn`; that one it receives and then drops the WebSocket without answering.
 */
class LendingBrowser {
  readonly ws: WebSocket;
  /** Every guest command received, hex (lower case), in order. */
  readonly commands: string[] = [];
  /** Frames from the relay that were not one valid VSCard message (hex + error). */
  readonly badFrames: string[] = [];
  /** Resolves with the command the browser dropped on. */
  readonly dropped: Promise<string>;
  /** Resolves when the WebSocket is closed (either side). */
  readonly closed: Promise<{ code: number; reason: string }>;
  readonly #card: SimpleCard;
  readonly #dropOn: ((command: string) => boolean) | undefined;
  readonly #dropMode: DropMode;
  readonly #replyWaiters: ((m: VscardMessage) => void)[] = [];
  #resolveDropped: (command: string) => void = () => undefined;
  #chain: Promise<void> = Promise.resolve();
  #isDropped = false;

  constructor(
    url: string,
    card: SimpleCard,
    drop?: { on: (command: string) => boolean; mode: DropMode },
  ) {
    this.#card = card;
    this.#dropOn = drop?.on;
    this.#dropMode = drop?.mode ?? 'close';
    this.ws = new WebSocket(url, [RELAY_SUBPROTOCOL], { perMessageDeflate: false });
    this.ws.on('error', () => undefined);
    this.dropped = new Promise((resolve) => (this.#resolveDropped = resolve));
    this.closed = new Promise((resolve) =>
      this.ws.on('close', (code: number, reason: Buffer) =>
        resolve({ code, reason: reason.toString() }),
      ),
    );
    this.ws.on('message', (data: RawData) => this.#onFrame(data));
  }

  static async open(
    relay: RelayServer,
    card: SimpleCard,
    drop?: { on: (command: string) => boolean; mode: DropMode },
  ): Promise<LendingBrowser> {
    const b = new LendingBrowser(`ws://127.0.0.1:${relay.address.port}${RELAY_PATH}`, card, drop);
    await new Promise<void>((resolve, reject) => {
      b.ws.once('open', () => resolve());
      b.ws.once('close', (code: number) =>
        reject(new Error(`relay closed the WebSocket: ${code}`)),
      );
    });
    return b;
  }

  /** Init, ReaderAdd, ATR, each acknowledged by QEMU through the relay (§3). */
  async lend(): Promise<void> {
    const init = await this.#request({
      type: 'Init',
      readerId: VSC_MINIMAL_READER_ID,
      magic: new TextEncoder().encode('VSCD'),
      version: 2,
      capabilities: [0],
    });
    expect(init.type).toBe('Init');
    for (const msg of [
      { type: 'ReaderAdd', readerId: VSC_MINIMAL_READER_ID, name: 'fault-test reader' },
      { type: 'ATR', readerId: VSC_MINIMAL_READER_ID, atr: this.#card.atr },
    ] as const) {
      const ack = await this.#request(msg);
      expect(ack, `QEMU's reply to ${msg.type}`).toMatchObject({ type: 'Error', code: 0 });
    }
  }

  #send(msg: VscardMessage): void {
    // §2.5: a client's Error code goes out little-endian (QEMU reads it in host order).
    this.ws.send(encodeMessage(msg, { errorCodeByteOrder: 'le' }), { binary: true });
  }

  #request(msg: VscardMessage, timeoutMs = 10_000): Promise<VscardMessage> {
    return new Promise((resolve, reject) => {
      const t = setTimeout(
        () => reject(new Error(`no reply to ${msg.type} within ${timeoutMs} ms`)),
        timeoutMs,
      );
      this.#replyWaiters.push((m) => (clearTimeout(t), resolve(m)));
      this.#send(msg);
    });
  }

  #onFrame(data: RawData): void {
    if (this.#isDropped) return;
    const bytes = Array.isArray(data)
      ? Buffer.concat(data)
      : Buffer.isBuffer(data)
        ? data
        : Buffer.from(data);
    let msg: VscardMessage;
    try {
      msg = decodeMessage(new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength));
    } catch (e) {
      // The relay must send one whole VSCard message per frame; the test asserts none was bad.
      this.badFrames.push(`${bytesToHex(bytes)}: ${String(e)}`);
      return;
    }
    if (msg.type !== 'APDU') {
      // Init and Error from QEMU are replies to our control messages, in order (§6 rule 1).
      this.#replyWaiters.shift()?.(msg);
      return;
    }
    const command = bytesToHex(msg.apdu);
    this.commands.push(command);
    if (this.#dropOn?.(command)) {
      // Mid-APDU: the command has arrived and is outstanding in QEMU; nobody will answer it.
      this.#isDropped = true;
      if (this.#dropMode === 'terminate') this.ws.terminate();
      else this.ws.close(1000);
      this.#resolveDropped(command);
      return;
    }
    const apdu = msg.apdu.slice();
    this.#chain = this.#chain.then(async () => {
      const answer = await this.#card.process(apdu);
      if (!this.#isDropped && this.ws.readyState === WebSocket.OPEN)
        this.#send({ type: 'APDU', readerId: VSC_MINIMAL_READER_ID, apdu: answer });
    });
  }
}

const hexText = (hex: string): string => Buffer.from(hexToBytes(hex)).toString('latin1');

interface RunOptions {
  qemuBinary?: string;
  qemuEnv?: Readonly<Record<string, string>>;
  qemuArgsExtra?: readonly string[];
}

/**
 * One boot, one relay process, three browsers: the first drops with `terminate()` on the
 * echo command, the second with a clean close on the same command, the third answers
 * everything.
 */
async function runDropScenario(opts: RunOptions): Promise<void> {
  const vscardPort = await freePort();
  const guest: GuestHandle = startGuest({
    image: fixture.image,
    vscardPort,
    timeoutMs: BOOT_TIMEOUT_MS,
    // apdu-try reports a failed exchange and goes on; until-removed waits for an empty slot
    // (failing with card-not-removed after `seconds`), after which the next scenario waits
    // for a new card.
    scenario: ['apdu-try', 'until-removed', 'apdu-try', 'until-removed', 'apdu'],
    args: { apdus: [SELECT, ECHO, PING].join(','), seconds: 60, cardwait: 120 },
    ...opts,
  });
  fixture.defer(() => guest.kill());

  const staticDir = mkdtempSync(path.join(os.tmpdir(), 'cardlend-fault-static-'));
  fixture.defer(() => rmSync(staticDir, { recursive: true, force: true }));
  const events: ServerEvent[] = [];
  const relay = await startRelayServer({
    config: {
      ...defaultConfig(),
      listen: { host: '127.0.0.1', port: 0 },
      targets: { default: { host: '127.0.0.1', port: vscardPort } },
      staticDir,
    },
    onEvent: (e) => events.push(e),
  });
  fixture.defer(() => relay.close());
  // QEMU's chardev listens once QEMU has started; the guest's first marker comes later.
  await guest.waitForMarker((m) => m.kind === 'BOOT', 60_000);

  const browsers: LendingBrowser[] = [];
  fixture.defer(() => browsers.forEach((b) => b.ws.terminate()));
  const sessionEnds = (): SessionEnd[] =>
    events.flatMap((e) => (e.kind === 'session-end' ? [e.end] : []));

  for (const [n, mode] of [
    [1, 'terminate'],
    [2, 'close'],
  ] as const) {
    const b = await LendingBrowser.open(relay, createTestCard(), {
      on: (command) => command === ECHO.toLowerCase(),
      mode,
    });
    browsers.push(b);
    await b.lend();
    const droppedOn = await b.dropped;
    expect(droppedOn).toBe(ECHO.toLowerCase());
    // The guest's outstanding echo fails: apdu-try reports it instead of hanging.
    const done = await waitForResult(guest, 'apdu-try-done', {
      n,
      timeoutMs: FAILURE_WITHIN_MS,
      what: `session ${n} (${mode}): the guest's pending APDU was neither failed nor answered (hang)`,
    });
    expect(done.fields['ok'], `session ${n} (${mode}): opensc-tool failed`).toBe('0');
    // Only the SELECT before the drop was answered; the echo got no (stale) answer.
    expect(done.fields['count']).toBe('1');
    // The guest then sees an empty slot (no stale card) before anyone lends again.
    const removed = await waitForResult(guest, 'until-removed', {
      n,
      timeoutMs: 90_000,
      what: `session ${n} (${mode}): the guest did not report the slot's state`,
    });
    expect(removed.fields['ok'], `session ${n} (${mode}): card removed in the guest`).toBe('1');
    // The browser saw exactly the commands up to the one it dropped on: nothing stale first.
    expect(b.commands).toEqual([SELECT.toLowerCase(), ECHO.toLowerCase()]);
  }

  // A new browser through the same relay process: the guest's APDUs work again.
  const last = await LendingBrowser.open(relay, createTestCard());
  browsers.push(last);
  await last.lend();
  const run = await guest.result;

  const names = run.results.map((m) => `${m.fields['name']}:${m.fields['ok']}`);
  expect(names).toEqual([
    'apdu-try:1', // SELECT answered
    'apdu-try-done:0', // echo failed (browser gone, terminate)
    'until-removed:1',
    'apdu-try:1',
    'apdu-try-done:0', // echo failed (browser gone, clean close)
    'until-removed:1',
    'apdu:1',
    'apdu:1',
    'apdu:1',
    'apdu-done:1',
  ]);
  for (const m of run.results.filter((r) => r.fields['name'] === 'apdu-try')) {
    expect(m.fields).toMatchObject({ i: '0', sw: '9000' });
    expect(m.fields['data']).toBe(`6f0b8409${bytesToHex(TEST_CARD_AID)}`);
  }
  for (const m of run.results.filter((r) => r.fields['name'] === 'apdu-try-done')) {
    // OpenSC's own words for the failed exchange (its output is hex on the serial line). The
    // relay's VSC_Error gives the guest a failed DataBlock; when pcscd has already taken the
    // CardRemove that follows it, it reports the removal instead. Both are errors, never data.
    expect(hexText(m.fields['out'] ?? '')).toMatch(
      /APDU transmit failed: (Transmit failed|Card removed)/,
    );
  }
  const apdus = run.results.filter((r) => r.fields['name'] === 'apdu');
  expect(apdus.map((m) => [m.fields['sw'], m.fields['data']])).toEqual([
    ['9000', `6f0b8409${bytesToHex(TEST_CARD_AID)}`],
    ['9000', ECHO_DATA],
    ['9000', ''],
  ]);
  // T=0 (QEMU's reader): the case-1 ping goes out with P3 = 00 (ISO 7816-3 §12.2.2).
  expect(last.commands).toEqual([SELECT, ECHO, `${PING}00`].map((c) => c.toLowerCase()));
  // Each lending session inserted the card anew in the guest.
  expect(
    run.markers
      .filter((m) => m.kind === 'STAGE' && m.fields['name'] === 'card')
      .map((m) => m.fields['atr']),
  ).toEqual(Array(3).fill(bytesToHex(TEST_CARD_ATR)));

  // The relay's side of it: each dropped session answered the one outstanding guest
  // command, removed the card with QEMU acknowledging, and the relay served the next one.
  await expect.poll(() => sessionEnds().length, { timeout: 10_000 }).toBe(3);
  const ends = sessionEnds();
  expect(ends.slice(0, 2).map((e) => [e.reason, e.answeredOnCleanup, e.isCleanupAcked])).toEqual([
    ['browser-closed', 1, true],
    ['browser-closed', 1, true],
  ]);
  expect(ends[1]?.browserCloseCode).toBe(1000);
  // The guest powered off with the last card still lent: the VM side ended that session.
  expect(ends[2]?.endedBy).toBe('vm');
  expect(events.filter((e) => e.kind === 'refused' || e.kind === 'server-error')).toEqual([]);
  expect(browsers.flatMap((b) => b.badFrames)).toEqual([]);
}

describe('browser drop mid-APDU through the relay, real guest', () => {
  it(
    'QEMU 7.2: the pending APDU fails, the card is removed, and a new session through the same relay works (terminate, then clean close)',
    () => runDropScenario({}),
    BOOT_TIMEOUT_MS + 30_000,
  );

  it(
    'QEMU 10.0: the same',
    async () => {
      const qemu10 = await ensureQemu10();
      await runDropScenario({
        qemuBinary: qemu10.binary,
        qemuEnv: qemu10.env,
        qemuArgsExtra: qemu10.args,
      });
    },
    BOOT_TIMEOUT_MS + 150_000,
  );
});
