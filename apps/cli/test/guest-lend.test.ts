/**
 * The proof of issue 12 with real parts only: `cardlend lend` (a real child process, the
 * esbuild bundle) lends cards from a real pcscd (vpcd in a private namespace: the PIV demo
 * card, then Debian's vicc) through the real relay (in process) to the project's Linux guest
 * under real QEMU 7.2 and 10.0. One boot per QEMU version runs every step in order; the host
 * acts when the guest reports the previous step:
 *
 *   atr, pkcs15-dump, pkcs11-sign (host verifies the signature)
 *   until-removed  ← the vpcd card is pulled          atr ← inserted again
 *   until-removed  ← pcscd restarts                   atr ← the CLI recovers by itself
 *   until-removed  ← the relay stops                  pkcs11-list ← it is back, the CLI reconnected
 *   until-removed  ← SIGTERM to the CLI (exit 0)
 *   atr, apdu      ← a second CLI lends vicc's card (T=1 only: shown with a T=0 ATR)
 *   until-removed  ← SIGINT to that CLI (exit 0)
 */
import type { PivDemoCard } from '@cardlend/card-sim';
import { buildGuest, bytesToHex, freePort, hexToBytes, startGuest } from '@cardlend/guest-image';
import type { GuestHandle, GuestImage } from '@cardlend/guest-image';
import { waitForCard } from '@cardlend/pcsc/testing';
import type { Pcscd, Vicc, VpcdCard } from '@cardlend/pcsc/testing';
import type { RelayServer } from '@cardlend/relay';
import { toQemuT0CompatibleAtr } from '@cardlend/vscard';
import { beforeAll, describe, expect } from 'vitest';
import { ensureBundle, spawnCli } from './helpers/cli-process.ts';
import type { CliEvent, CliRun } from './helpers/cli-process.ts';
import {
  BOOT_TIMEOUT_MS,
  cleanupsAfterEach,
  hexText,
  itOnBothQemus,
  nthResult,
  pivOnPcscd,
  STEP_MS,
} from './helpers/guest-proof.ts';
import type { QemuChoice } from './helpers/guest-proof.ts';
import { checkPivSignature } from './helpers/piv-signature.ts';
import { startTestRelay } from './helpers/relay-rig.ts';
import { mintTestToken, testSecret } from './helpers/tokens.ts';

/** vicc's ATR (T=1 only). */
const VICC_ATR = hexToBytes('3b951381018073ff01000b');
/** SELECT of the MF by file id without FCI (Debian's vicc dies on SELECTs that ask for FCI). */
const SELECT_MF = '00a4000c023f00';
const SIGNED = 'cardlend-cli-signature';

let image: GuestImage;
const cleanups = cleanupsAfterEach();

beforeAll(async () => {
  ensureBundle();
  image = await buildGuest();
}, 300_000);

/** A relay in this process for target `vm` (tokens required), on `port` (0: any). */
async function startRelay(vscardPort: number, port: number, secret: Uint8Array, dir: string) {
  return startTestRelay({ vmPort: vscardPort, staticDir: dir, port, tokenSecrets: [secret] });
}

const isAccepted = (e: CliEvent): boolean =>
  e.event === 'state' &&
  e['link'] === 'lent' &&
  (e['card'] as { vmStatus?: string } | null)?.vmStatus === 'accepted';

interface Rig {
  guest: GuestHandle;
  pcscd: Pcscd;
  relay: RelayServer;
  link: string;
}

/** Steps 1–3: the PIV card through pkcs15-tool and a verified PKCS#11 signature. */
async function provePiv(rig: Rig, piv: PivDemoCard, cli: CliRun): Promise<void> {
  const atr = await nthResult(rig.guest, 'atr', 1, 'PIV card in the guest');
  expect(atr.fields['atr']).toBe(bytesToHex(piv.atr));
  const p15 = hexText(
    (await nthResult(rig.guest, 'pkcs15-dump', 1, 'pkcs15-tool -D')).fields['outhex'],
  );
  expect(p15).toMatch(/PIN \[/);
  expect(p15).toMatch(/Private RSA Key \[/);
  expect(p15).toMatch(/X\.509 Certificate \[/);
  const sign = await nthResult(rig.guest, 'pkcs11-sign', 1, 'pkcs11-tool --sign');
  const signature = checkPivSignature(sign.fields, SIGNED);
  expect(signature.cert).toEqual(Buffer.from(piv.certificateDer));
  expect(signature.recovered).toBe(SIGNED);
  expect(signature.isSha256Valid).toBe(true);
  // The PIN went through the CLI: its log has the VERIFY, without the PIN.
  const verifyEntry = cli.events.find((e) => e.event === 'apdu' && e['name'] === 'VERIFY');
  expect(verifyEntry).toMatchObject({ isRedacted: true, command: null });
  expect(cli.stdout.join('\n')).not.toContain(bytesToHex(Buffer.from('123456')));
}

async function runProof(qemu: QemuChoice): Promise<void> {
  const host = await pivOnPcscd(cleanups, 'cardlend-cli-guest-');
  const { dir: staticDir, pcscd, piv } = host;
  let pivLink: VpcdCard = host.pivLink;

  const vscardPort = await freePort();
  const guest = startGuest({
    image,
    vscardPort,
    timeoutMs: BOOT_TIMEOUT_MS,
    scenario: [
      'atr',
      'pkcs15-dump',
      'pkcs11-sign',
      'until-removed',
      'atr',
      'until-removed',
      'atr',
      'until-removed',
      'pkcs11-list',
      'until-removed',
      'atr',
      'apdu',
      'until-removed',
    ],
    args: { data: SIGNED, pin: '123456', apdus: SELECT_MF, seconds: 150, cardwait: 150 },
    ...qemu,
  });
  cleanups.push(() => guest.kill());
  const secret = testSecret();
  let relay = await startRelay(vscardPort, 0, secret, staticDir);
  cleanups.push(() => relay.close());
  const relayPort = relay.address.port;
  // Reusable: the CLI reconnects with the same token after the relay restarts.
  const link = `http://127.0.0.1:${relayPort}/#token=${mintTestToken(secret, 'vm', { isOneTime: false })}`;
  await guest.waitForMarker((m) => m.kind === 'BOOT', 60_000);

  const cli = spawnCli(['lend', '--yes', '--json', '--reader', '00 00', link]);
  cleanups.push(() => void cli.child.kill('SIGKILL'));
  await cli.waitForEvent(isAccepted, 'PIV card lent', STEP_MS);
  const rig: Rig = { guest, pcscd, relay, link };
  await provePiv(rig, piv, cli);

  // Card pulled → the guest sees no card; inserted again → it sees it.
  await pivLink.remove();
  await nthResult(guest, 'until-removed', 1, 'card pulled');
  pivLink = await pcscd.insertCard(piv);
  expect((await nthResult(guest, 'atr', 2, 'card inserted again')).fields['atr']).toBe(
    bytesToHex(piv.atr),
  );

  // pcscd restarts under the CLI: the card leaves the guest, then comes back by itself.
  await pcscd.restart();
  await nthResult(guest, 'until-removed', 2, 'pcscd restarted: card gone in the guest');
  expect((await nthResult(guest, 'atr', 3, 'after pcscd restart')).fields['atr']).toBe(
    bytesToHex(piv.atr),
  );
  // …and the CLI said why the card was gone meanwhile.
  const service = cli.events.filter((e) => e.event === 'service').map((e) => e['state']);
  expect(service).toEqual(['down', 'back']);

  // The relay stops (the VM gets CardRemove + ReaderRemove: the guest sees no card) and comes
  // back on the same address: the CLI, retrying with backoff, reconnects and lends again.
  await relay.close();
  await nthResult(guest, 'until-removed', 3, 'relay stopped: card gone in the guest');
  relay = await startRelay(vscardPort, relayPort, secret, staticDir);
  const list = await nthResult(guest, 'pkcs11-list', 1, 'after the CLI reconnected');
  expect(hexText(list.fields['objectshex'])).toMatch(/Certificate Object; type = X\.509 cert/);
  expect(cli.events.some((e) => e.event === 'state' && e['link'] === 'reconnecting')).toBe(true);

  // SIGTERM to the CLI's own process: CardRemove + ReaderRemove, the guest keeps no card, exit 0.
  cli.child.kill('SIGTERM');
  expect((await cli.exit).code, cli.transcript()).toBe(0);
  await nthResult(guest, 'until-removed', 4, 'SIGTERM: no stale card');
  void pivLink;

  // vicc's card (T=1 only) through a second CLI: ATR (T=0-compatible form) and a SELECT.
  const vicc: Vicc = await pcscd.startVicc({ slot: 1 });
  cleanups.push(() => vicc.stop());
  await waitForCard(pcscd.readers[1], 'present');
  const link2 = `http://127.0.0.1:${relayPort}/#token=${mintTestToken(secret, 'vm')}`;
  const cli2 = spawnCli(['lend', '--yes', '--json', '--reader', '00 01', link2]);
  cleanups.push(() => void cli2.child.kill('SIGKILL'));
  await cli2.waitForEvent(isAccepted, 'vicc card lent', STEP_MS);
  const viccAtr = await nthResult(guest, 'atr', 4, "vicc's card in the guest");
  expect(viccAtr.fields['atr']).toBe(bytesToHex(toQemuT0CompatibleAtr(VICC_ATR)));
  const select = await nthResult(guest, 'apdu', 1, 'SELECT to vicc');
  expect(select.fields['sw']).toBe('9000');
  cli2.child.kill('SIGINT');
  expect((await cli2.exit).code, cli2.transcript()).toBe(0);
  await nthResult(guest, 'until-removed', 5, 'SIGINT: no stale card');
  await guest.result;
}

describe('cardlend lend with a real guest (real pcscd, relay, QEMU)', () => {
  itOnBothQemus(
    'PIV card through pkcs15-tool and PKCS#11 signing; pull/insert, pcscd restart, relay restart, SIGTERM; vicc card; SIGINT',
    runProof,
    BOOT_TIMEOUT_MS,
  );
});
