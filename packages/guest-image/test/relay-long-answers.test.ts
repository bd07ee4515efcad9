/**
 * Issue 11 §3 with a real guest: a 1000-byte answer (more than QEMU's 374) reaches OpenSC in
 * the guest whole, through the in-process relay, both for an older page (no long-answers
 * subprotocol: the page splits and serves the 3 GET RESPONSEs, each one crossing to the page)
 * and for a new one (the relay selects cardlend.vscard.v1.long-answers, splits next to QEMU and
 * serves every GET RESPONSE: the page sees only the 2 commands the card must answer).
 */
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { defaultConfig, startRelayServer, type RelayServer } from '@cardlend/relay';
import { ensureQemu10 } from '@cardlend/qemu-testbed';
import { RELAY_PATH, RELAY_SUBPROTOCOL, RELAY_SUBPROTOCOL_LONG_ANSWERS } from '@cardlend/vscard';
import { beforeAll, describe, expect, it } from 'vitest';
import { freePort, startGuest } from '../src/boot-guest.ts';
import { bytesToHex, hexToBytes } from '../src/markers.ts';
import { startPageClient, type PageClient } from '../src/page-client.ts';
import { createTestCard, TEST_CARD_AID, testPattern } from '../src/test-card.ts';
import { useGuestFixture } from './guest-fixture.ts';

const BOOT_TIMEOUT_MS = 150_000;
const SELECT = `00A40400${TEST_CARD_AID.length.toString(16).padStart(2, '0')}${bytesToHex(TEST_CARD_AID)}`;
/** LongAnswer of 0x03E8 = 1000 bytes, with Le (OpenSC then follows 61xx with GET RESPONSE). */
const READ_1000 = '801003E800';

const fixture = useGuestFixture();

async function lendAndRead(
  qemu10: Awaited<ReturnType<typeof ensureQemu10>> | undefined,
  isNewPage: boolean,
): Promise<{ page: PageClient; data: string; sw: string }> {
  const vscardPort = await freePort();
  const guest = startGuest({
    image: fixture.image,
    vscardPort,
    scenario: 'apdu',
    args: { apdus: `${SELECT},${READ_1000}` },
    timeoutMs: BOOT_TIMEOUT_MS,
    ...(qemu10
      ? { qemuBinary: qemu10.binary, qemuEnv: qemu10.env, qemuArgsExtra: qemu10.args }
      : {}),
  });
  fixture.defer(() => guest.kill());
  const relay: RelayServer = await startRelayServer({
    config: {
      ...defaultConfig(),
      listen: { host: '127.0.0.1', port: 0 },
      targets: { default: { host: '127.0.0.1', port: vscardPort } },
      staticDir: mkdtempSync(path.join(os.tmpdir(), 'cardlend-static-')),
    },
  });
  fixture.defer(() => relay.close());
  await guest.waitForMarker((m) => m.kind === 'BOOT', 90_000);
  const page = await startPageClient({
    url: `ws://127.0.0.1:${relay.address.port}${RELAY_PATH}`,
    card: createTestCard(),
    isOfferingLongAnswers: isNewPage,
  });
  fixture.defer(() => page.stop());
  const run = await guest.result;
  const read = run.results.find((r) => r.fields['name'] === 'apdu' && r.fields['i'] === '1');
  return { page, data: read?.fields['data'] ?? '', sw: read?.fields['sw'] ?? '' };
}

describe.each(['7.2', '10.0'] as const)('long answers through the relay, QEMU %s', (version) => {
  let qemu10: Awaited<ReturnType<typeof ensureQemu10>> | undefined;
  beforeAll(async () => {
    qemu10 = version === '10.0' ? await ensureQemu10() : undefined;
  }, 120_000);

  it.each([
    {
      page: 'an older page splits itself: the 3 GET RESPONSEs go to the page',
      isNewPage: false,
      protocol: RELAY_SUBPROTOCOL,
      commands: 5, // SELECT, READ, 3 × GET RESPONSE
      servedHere: 3,
    },
    {
      page: 'a new page sends the answer whole: the relay serves the GET RESPONSEs next to QEMU',
      isNewPage: true,
      protocol: RELAY_SUBPROTOCOL_LONG_ANSWERS,
      commands: 2, // SELECT, READ: no GET RESPONSE crossed to the page
      servedHere: 0,
    },
  ])(
    '$page',
    async ({ isNewPage, protocol, commands, servedHere }) => {
      const { page, data, sw } = await lendAndRead(qemu10, isNewPage);
      expect(page.protocol).toBe(protocol);
      expect(sw.toUpperCase()).toBe('9000');
      expect(Buffer.from(hexToBytes(data)).equals(Buffer.from(testPattern(1000)))).toBe(true);
      expect(page.commandsReceived).toBe(commands);
      expect(page.getResponsesServedHere).toBe(servedHere);
    },
    BOOT_TIMEOUT_MS + 30_000,
  );
});
