/**
 * One guest boot that walks through issue 5's scenarios with the card the page lends:
 * guest (pcscd + libccid + OpenSC in QEMU) → QEMU usb-ccid/ccid-card-passthru → relay →
 * page in Chromium → CCID driver → simulated reader → PIV demo card, and back.
 *
 * Scenario chain in the guest: `atr` → `apdu` → `watch` (9 card events) → `apdu` again →
 * `until-removed`, which keeps QEMU up until the final Stop lending.
 * While `watch` runs, the test drives the page: pull, insert, crash and restart the relay,
 * Stop lending, lend again, close the tab, lend from a new tab, restart the relay gracefully
 * (all relays on the same port). One boot keeps the suite
 * short on a 2-core machine (a boot costs 10–25 s there).
 */
import { X509Certificate } from 'node:crypto';
import type { BrowserContext, Page } from '@playwright/test';
import {
  buildGuest,
  freePort,
  GuestScenario,
  hexToBytes,
  startGuest,
  type GuestHandle,
  type GuestMarker,
} from '@cardlend/guest-image';
import { parseAtr, toQemuT0CompatibleAtr } from '@cardlend/vscard';
import { expect } from '../fixtures.ts';
import { startRelayProcess, type RelayProcess } from './relay-process.ts';

/** SELECT the PIV application (SP 800-73-4 Part 2 §3.1.1, truncated AID) with Le. */
export const SELECT_PIV = '00A4040009A0000003080000100000';
/**
 * GET DATA of the PIV Authentication certificate object 5FC105 (SP 800-73-4 Part 2 §3.1.2)
 * with Le=00. The object (a 2048-bit RSA certificate) is ~1 KB: far above the 374 bytes
 * QEMU 7.2 can carry in one answer. The guest's OpenSC collects it with GET RESPONSE, which
 * the relay serves from the whole answer the page sent.
 */
export const GET_CERT_9A = '00CB3FFF055C035FC10500';
/** Bytes QEMU 7.2 delivers in one answer (data + SW; vscard-protocol.md §4). */
const QEMU72_MAX_ANSWER = 374;

/** The watch events the chain produces, in order (see {@link runGuestChain}). */
const EVENT_COUNT = 9;

/** How QEMU is run: the system 7.2, or an unpacked 10.0 (ensureQemu10()). */
export interface QemuChoice {
  label: string;
  qemuBinary?: string;
  qemuEnv?: Readonly<Record<string, string>>;
  qemuArgsExtra?: readonly string[];
}

/** Per-step bound on a busy 2-core machine, ms. */
const STEP_MS = 60_000;

function hex(s: string): string {
  return s.replace(/\s+/g, '').toLowerCase();
}

function describeFailure(m: GuestMarker): string {
  const out = m.fields['out'];
  return `guest: ${m.fields['reason'] ?? ''} ${out === undefined ? '' : Buffer.from(out, 'hex').toString('utf8')}`;
}

/** Waits for the n-th (1-based) EVENT marker of the watch scenario and returns it. */
async function nthEvent(guest: GuestHandle, n: number): Promise<GuestMarker> {
  await guest.waitForMarker(
    () => guest.markers.filter((m) => m.kind === 'EVENT').length >= n,
    STEP_MS,
  );
  const event = guest.markers.filter((m) => m.kind === 'EVENT')[n - 1];
  if (event === undefined) throw new Error(`watch event ${n} missing`);
  return event;
}

/** Asserts the `apdu` results of one run (SELECT PIV, GET DATA 5FC105) and returns the certificate. */
function checkApduResults(results: readonly GuestMarker[]): X509Certificate {
  const failed = results.find((r) => r.fields['ok'] !== '1');
  expect(failed, failed ? describeFailure(failed) : '').toBeUndefined();
  expect(results.map((r) => [r.fields['i'], r.fields['sw']])).toEqual([
    ['0', '9000'],
    ['1', '9000'],
  ]);
  // SELECT answers the application property template (tag 61) with the PIV AID's PIX.
  const select = hexToBytes(results[0]?.fields['data'] ?? '');
  expect(select[0]).toBe(0x61);
  expect(hex(results[0]?.fields['data'] ?? '')).toContain('4f06000010000100');

  // The certificate object arrives whole: 53 82 LL LL { 70 82 .. <DER cert> 71 01 00 [FE 00] }.
  const obj = hexToBytes(results[1]?.fields['data'] ?? '');
  expect(obj.length).toBeGreaterThan(QEMU72_MAX_ANSWER);
  expect([obj[0], obj[1]]).toEqual([0x53, 0x82]);
  expect(obj.length).toBe(4 + (((obj[2] ?? 0) << 8) | (obj[3] ?? 0)));
  expect([obj[4], obj[5]]).toEqual([0x70, 0x82]);
  const certLength = ((obj[6] ?? 0) << 8) | (obj[7] ?? 0);
  const der = obj.subarray(8, 8 + certLength);
  expect(der.length).toBe(certLength);
  const cert = new X509Certificate(der); // throws on a cut or corrupted DER
  expect(cert.publicKey.asymmetricKeyType).toBe('rsa');
  expect(cert.publicKey.asymmetricKeyDetails?.modulusLength).toBe(2048);
  return cert;
}

/** Waits until the page's link status is `link` (lent, reconnecting, stopped …). */
async function expectLink(page: Page, link: string, timeout = STEP_MS): Promise<void> {
  await expect(page.getByTestId('status-link')).toHaveAttribute('data-link', link, { timeout });
}

/** Clicks "Try a virtual card" and waits until the page says the card is lent. */
async function lend(page: Page): Promise<void> {
  await page.getByRole('button', { name: 'Try a virtual card' }).click();
  await expectLink(page, 'lent');
}

/**
 * Stops the running relay (the last of `relays`) with `signal` and starts a new one on the
 * same address: the page shows it reconnecting (`whileDown` runs then), and lent again once
 * the new relay is up.
 */
async function restartRelay(
  page: Page,
  relays: RelayProcess[],
  ports: { port: number; targetPort: number },
  signal: 'SIGTERM' | 'SIGKILL',
  whileDown: () => Promise<void> = async () => {},
): Promise<void> {
  await relays.at(-1)?.stop(signal);
  await expectLink(page, 'reconnecting');
  await whileDown();
  relays.push(await startRelayProcess(ports));
  await expectLink(page, 'lent', STEP_MS * 1.5);
}

/**
 * Runs the whole chain (see the module comment); throws on the first broken expectation.
 * `snap` keeps a screenshot per state.
 */
export async function runGuestChain(opts: {
  context: BrowserContext;
  page: Page;
  qemu: QemuChoice;
  snap: (page: Page, name: string) => Promise<void>;
  attach: (name: string, body: string) => Promise<void>;
}): Promise<void> {
  const { context, qemu, snap } = opts;
  let page = opts.page;
  const image = await buildGuest();
  const vscardPort = await freePort();
  /** Every relay of the chain listens on the same port, so the page reconnects to it. */
  const ports = { port: await freePort(), targetPort: vscardPort };
  const guest = startGuest({
    image,
    scenario: [
      GuestScenario.Atr,
      GuestScenario.Apdu,
      GuestScenario.Watch,
      GuestScenario.Apdu,
      GuestScenario.UntilRemoved,
    ],
    args: {
      apdus: [SELECT_PIV, GET_CERT_9A].join(','),
      cardwait: 120,
      events: EVENT_COUNT,
      seconds: 400,
    },
    vscardPort,
    timeoutMs: 420_000,
    ...(qemu.qemuBinary === undefined ? {} : { qemuBinary: qemu.qemuBinary }),
    ...(qemu.qemuEnv === undefined ? {} : { qemuEnv: qemu.qemuEnv }),
    ...(qemu.qemuArgsExtra === undefined ? {} : { qemuArgsExtra: qemu.qemuArgsExtra }),
  });
  const relays: RelayProcess[] = [];
  const relay = (i: number): RelayProcess => {
    const r = relays[i];
    if (r === undefined) throw new Error(`relay ${i} was not started`);
    return r;
  };
  try {
    relays.push(await startRelayProcess(ports));
    await page.goto(relay(0).url);
    await lend(page);

    // (1)+(2) ATR: the demo card offers T=1 only; QEMU's reader speaks T=0 only, so the page
    // presents the T=0 compatibility ATR, and that is the ATR the guest's OpenSC reports.
    const status = page.getByTestId('status-card');
    await status.getByText('Details for your helpdesk').click();
    await expect(status).toContainText(/Protocol\s*T=1/);
    await expect(status).toContainText('T=0 compatibility ATR');
    const codes = status.locator('code');
    const cardAtr = hex(await codes.first().innerText());
    const presentedAtr = hex(await codes.nth(1).innerText());
    expect(parseAtr(hexToBytes(cardAtr)).protocols).toEqual([1]);
    expect(presentedAtr).toBe(
      Buffer.from(toQemuT0CompatibleAtr(hexToBytes(cardAtr))).toString('hex'),
    );
    expect(parseAtr(hexToBytes(presentedAtr)).protocols).toContain(0);
    const atrResult = await guest.waitForMarker(
      (m) => m.kind === 'RESULT' && m.fields['name'] === 'atr',
      STEP_MS * 2,
    );
    expect(atrResult.fields, describeFailure(atrResult)).toMatchObject({ ok: '1' });
    expect(atrResult.fields['atr']).toBe(presentedAtr);
    expect(atrResult.fields['atr']).not.toBe(cardAtr);

    // (1) APDUs, one with a ~1 KB answer, arrive whole.
    await guest.waitForMarker(
      (m) => m.kind === 'RESULT' && m.fields['name'] === 'apdu-done',
      STEP_MS,
    );
    const firstApdus = guest.markers.filter(
      (m) => m.kind === 'RESULT' && m.fields['name'] === 'apdu',
    );
    checkApduResults(firstApdus);
    const log = page.getByRole('region', { name: 'Card activity', exact: true });
    // The relay splits long answers next to QEMU and serves the guest's GET RESPONSEs itself
    // (long-answers contract, issue 11 §3): the page sends the card's whole answer once and
    // never sees a GET RESPONSE cross the network.
    const getData = log.getByRole('row', { name: /GET DATA/ }).first();
    const received = Number(/(\d+) B\s+9000/.exec(await getData.innerText())?.[1]);
    expect(received).toBeGreaterThan(QEMU72_MAX_ANSWER);
    await expect(log).not.toContainText('GET RESPONSE');
    await snap(page, `${qemu.label}-atr-apdu`);

    // (3) Watch: present at start, then pulled and reinserted.
    expect((await nthEvent(guest, 1)).fields).toMatchObject({
      state: 'present',
      atr: presentedAtr,
    });
    await page.getByRole('button', { name: 'Pull the virtual card out' }).click();
    expect((await nthEvent(guest, 2)).fields).toMatchObject({ state: 'empty', atr: '' });
    await snap(page, `${qemu.label}-pulled`);
    await page.getByRole('button', { name: 'Insert the virtual card' }).click();
    expect((await nthEvent(guest, 3)).fields).toMatchObject({
      state: 'present',
      atr: presentedAtr,
    });

    // (5a) The relay crashes (SIGKILL: nothing reaches QEMU, which keeps the card) and comes
    // back on the same address: the page reconnects by itself and announces reader and card
    // again, which the guest does not see as a change (no event). The Stop below, sent through
    // the new relay, proves that new link works end to end.
    await restartRelay(page, relays, ports, 'SIGKILL');
    await expect(page.getByTestId('status-card')).toContainText('Present');
    await page.waitForTimeout(2000); // a spurious removal would show up as an event by now
    expect(guest.markers.filter((m) => m.kind === 'EVENT')).toHaveLength(3);
    await snap(page, `${qemu.label}-relay-crashed-back`);

    // (4a) Stop lending: the guest's pcscd has no card left.
    await page.getByRole('button', { name: 'Stop lending' }).click();
    await expectLink(page, 'stopped');
    expect((await nthEvent(guest, 4)).fields).toMatchObject({ state: 'empty', atr: '' });
    await snap(page, `${qemu.label}-stopped`);

    // Lend again from the same tab: the VM's reader comes back and the card with it.
    await lend(page);
    expect((await nthEvent(guest, 5)).fields).toMatchObject({
      state: 'present',
      atr: presentedAtr,
    });

    // (4b) Closing the tab while lending leaves no stale card either.
    await page.close();
    expect((await nthEvent(guest, 6)).fields).toMatchObject({ state: 'empty', atr: '' });

    // A new tab lends again.
    page = await context.newPage();
    await page.goto(relay(1).url);
    await lend(page);
    expect((await nthEvent(guest, 7)).fields).toMatchObject({
      state: 'present',
      atr: presentedAtr,
    });

    // (5b) The relay restarts on the same address: its graceful shutdown removes the card
    // from the VM (close 1001 to the page, CardRemove + ReaderRemove to QEMU), the page's
    // bridge reconnects with backoff to the new process and the card comes back.
    await restartRelay(page, relays, ports, 'SIGTERM', async () => {
      expect((await nthEvent(guest, 8)).fields).toMatchObject({ state: 'empty', atr: '' });
      await snap(page, `${qemu.label}-relay-down`);
    });
    expect((await nthEvent(guest, 9)).fields).toMatchObject({
      state: 'present',
      atr: presentedAtr,
    });
    await snap(page, `${qemu.label}-relay-back`);

    // The card that came back works: the same APDUs again, long answer included. The guest
    // then holds (until-removed), so QEMU is still up while the page shows the lent card.
    await guest.waitForMarker(
      (m) =>
        m.kind === 'RESULT' &&
        guest.markers.filter((x) => x.kind === 'RESULT' && x.fields['name'] === 'apdu-done')
          .length >= 2,
      STEP_MS,
    );
    await expect(page.getByTestId('status-link')).toHaveAttribute('data-link', 'lent');

    // Stop lending: the guest sees the card go, finishes, and QEMU exits.
    await page.getByRole('button', { name: 'Stop lending' }).click();
    await expectLink(page, 'stopped');
    const run = await guest.result;
    expect(run.events).toHaveLength(EVENT_COUNT);
    const runs = run.results.filter((r) => r.fields['name'] === 'apdu');
    expect(runs).toHaveLength(4);
    checkApduResults(runs.slice(2));
    expect(run.results.filter((r) => r.fields['name'] === 'apdu-done')).toHaveLength(2);
    expect(run.results.at(-1)?.fields).toMatchObject({ name: 'until-removed', ok: '1' });
  } finally {
    await guest.kill();
    for (const r of relays) await r.stop('SIGTERM');
    await opts.attach(
      'guest-serial.log',
      guest.markers.map((m) => `${m.kind} ${JSON.stringify(m.fields)}`).join('\n'),
    );
    await opts.attach('relay.log', relays.map((r) => r.output.join('\n')).join('\n-----\n'));
  }
}
