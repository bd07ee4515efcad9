/**
 * Issue 13's guest proof without the browser: the page's lending path (CardBridge over the
 * page's HelperReader and HelperClient) lends the PIV demo card of a real pcscd + vpcd through
 * `cardlend serve`'s server and the real relay to the project's Linux guest under real QEMU
 * 7.2 and 10.0: the guest reads the ATR and signs with pkcs11-tool (the host verifies the
 * signature); the helper stops mid-lending → the guest sees no card.
 */
import { beforeAll, describe, expect } from 'vitest';
import { buildGuest, bytesToHex, freePort, startGuest } from '@cardlend/guest-image';
import type { GuestImage } from '@cardlend/guest-image';
import { HelperClient } from '../../../web/src/lib/helper/helper-client.ts';
import { HelperReader } from '../../../web/src/lib/helper/helper-reader.ts';
import { startPcscHelper } from '../helpers/pcsc-helper.ts';
import {
  BOOT_TIMEOUT_MS,
  cleanupsAfterEach,
  itOnBothQemus,
  nthResult,
  pivOnPcscd,
} from '../helpers/guest-proof.ts';
import type { QemuChoice } from '../helpers/guest-proof.ts';
import { checkPivSignature } from '../helpers/piv-signature.ts';
import { bridgeToRelay, startTestRelay } from '../helpers/relay-rig.ts';
import { pageSocket } from './serve-fixture.ts';

const PAGE = 'https://lend.example.org';
const SIGNED = 'cardlend-helper-signature';

let image: GuestImage;
const cleanups = cleanupsAfterEach();

beforeAll(async () => {
  image = await buildGuest();
}, 300_000);

async function runProof(qemu: QemuChoice): Promise<void> {
  const { dir, pcscd, piv } = await pivOnPcscd(cleanups, 'cardlend-helper-guest-');
  const vscardPort = await freePort();
  const guest = startGuest({
    image,
    vscardPort,
    timeoutMs: BOOT_TIMEOUT_MS,
    scenario: ['atr', 'pkcs11-sign', 'until-removed'],
    args: { data: SIGNED, pin: '123456', seconds: 150, cardwait: 150 },
    ...qemu,
  });
  cleanups.push(() => guest.kill());
  const relay = await startTestRelay({ vmPort: vscardPort, staticDir: dir });
  cleanups.push(() => relay.close());
  const helper = await startPcscHelper({ configDir: dir, approved: [PAGE] });
  cleanups.push(() => helper.stop());
  await guest.waitForMarker((m) => m.kind === 'BOOT', 60_000);

  const client = await HelperClient.connect({
    url: helper.server.url,
    createSocket: pageSocket(PAGE),
  });
  const reader = await HelperReader.open(client, pcscd.readers[0]);
  const bridge = bridgeToRelay(reader, relay);
  cleanups.push(() => bridge.stop());
  await bridge.start();

  const atr = await nthResult(guest, 'atr', 1, 'PIV card in the guest');
  expect([
    bytesToHex(piv.atr),
    bytesToHex(bridge.state.card?.presentedAtr ?? new Uint8Array()),
  ]).toContain(atr.fields['atr']);
  const signature = checkPivSignature(
    (await nthResult(guest, 'pkcs11-sign', 1, 'pkcs11-tool --sign')).fields,
    SIGNED,
  );
  expect(signature.cert).toEqual(Buffer.from(piv.certificateDer));
  expect(signature.recovered).toBe(SIGNED);
  expect(signature.isSha256Valid).toBe(true);

  // The helper stops mid-lending: the guest keeps no card.
  await helper.server.close();
  await nthResult(guest, 'until-removed', 1, 'helper stopped: card gone in the guest');
  expect(reader.goneBecause).toBe('HELPER_STOPPING');
  await guest.result;
}

describe('lending through cardlend serve to a real guest', () => {
  itOnBothQemus(
    'ATR, pkcs11-tool signature verified, helper stopped → no card',
    runProof,
    BOOT_TIMEOUT_MS,
  );
});
