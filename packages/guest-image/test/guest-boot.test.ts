/**
 * Real guest end to end with the direct card: Debian's pcscd + libccid + OpenSC inside a
 * QEMU guest talk to an in-process card through usb-ccid + ccid-card-passthru (issue 5).
 */
import { ensureQemu10 } from '@cardlend/qemu-testbed';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { buildGuest, type GuestImage } from '../src/build-guest.ts';
import {
  freePort,
  startGuest,
  type BootGuestOptions,
  type GuestHandle,
} from '../src/boot-guest.ts';
import { startDirectCard, type DirectCard } from '../src/direct-card.ts';
import { bytesToHex, hexToBytes } from '../src/markers.ts';
import {
  createTestCard,
  testPattern,
  TEST_CARD_AID,
  TEST_CARD_ATR,
  type SimpleCard,
} from '../src/test-card.ts';

const BOOT_TIMEOUT_MS = 120_000;
let image: GuestImage;
const cleanups: (() => Promise<void>)[] = [];

beforeAll(async () => {
  image = await buildGuest();
}, 300_000);

afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => undefined);
});

async function boot(
  opts: Omit<BootGuestOptions, 'image' | 'vscardPort'>,
  card: SimpleCard = createTestCard(),
): Promise<{ guest: GuestHandle; card: DirectCard }> {
  const port = await freePort();
  const guest = startGuest({ image, vscardPort: port, timeoutMs: BOOT_TIMEOUT_MS, ...opts });
  cleanups.push(() => guest.kill());
  const direct = await startDirectCard({ port, card });
  cleanups.push(async () => direct.destroy());
  return { guest, card: direct };
}

const SELECT = `00A40400${TEST_CARD_AID.length.toString(16).padStart(2, '0')}${bytesToHex(TEST_CARD_AID)}`;

describe('guest on QEMU 7.2 with the direct card', () => {
  it(
    'refuses an ATR QEMU 7.2 rejects (GUEST_VSCARD_PEER); then the guest sees the ATR, round-trips APDUs and gets a 1000-byte answer whole through 61xx + GET RESPONSE',
    async () => {
      const port = await freePort();
      const guest = startGuest({
        image,
        vscardPort: port,
        timeoutMs: BOOT_TIMEOUT_MS,
        scenario: ['atr', 'apdu'],
        args: { apdus: [SELECT, '80200000050102030405', '801003E800'].join(',') },
      });
      cleanups.push(() => guest.kill());
      // vscard-protocol.md §3.1: a valid T=1 ATR that QEMU 7.2's structure check rejects.
      const refused: SimpleCard = {
        atr: Uint8Array.of(0x3b, 0x84, 0x01, 0x56, 0x53, 0x43, 0x44, 0x87),
        process: () => Uint8Array.of(0x6d, 0x00),
      };
      await expect(startDirectCard({ port, card: refused })).rejects.toMatchObject({
        code: 'GUEST_VSCARD_PEER',
      });
      // The next client is served (the refused one left QEMU's stream on a message boundary).
      const card = await startDirectCard({ port, card: createTestCard() });
      cleanups.push(async () => card.destroy());
      const r = await guest.result;

      expect(r.results.find((m) => m.fields['name'] === 'atr')?.fields).toMatchObject({
        ok: '1',
        atr: bytesToHex(TEST_CARD_ATR),
      });
      expect(r.timeline.map((t) => t.what)).toEqual(
        expect.arrayContaining([
          'spawn',
          'BOOT',
          'STAGE:reader',
          'STAGE:pcscd',
          'STAGE:card',
          'RESULT:atr',
          'RESULT:apdu',
          'DONE',
        ]),
      );
      const apdus = r.results.filter((m) => m.fields['name'] === 'apdu');
      expect(apdus.map((m) => m.fields['sw'])).toEqual(['9000', '9000', '9000']);
      expect(apdus[0]?.fields['data']).toBe(`6f0b8409${bytesToHex(TEST_CARD_AID)}`);
      expect(apdus[1]?.fields['data']).toBe('0102030405');
      expect(hexToBytes(apdus[2]?.fields['data'] ?? '')).toEqual(testPattern(1000));
      // What crossed QEMU: the guest's own GET RESPONSEs, every answer within QEMU 7.2's 374-byte limit.
      expect(card.exchanges.map((e) => bytesToHex(e.command))).toEqual([
        SELECT.toLowerCase(),
        '80200000050102030405',
        '801003e800',
        '00c0000000',
        '00c0000000',
        '00c00000e8',
      ]);
      expect(Math.max(...card.exchanges.map((e) => e.answer.length))).toBeLessThanOrEqual(374);
      expect(card.firstApduAtMs).not.toBeNull();
    },
    BOOT_TIMEOUT_MS,
  );

  it(
    'reports the card pulled and reinserted, and no stale card after a clean close',
    async () => {
      const { guest, card } = await boot({ scenario: 'watch', args: { events: 4, seconds: 60 } });
      const event = (n: number, state: string) =>
        guest.waitForMarker(
          (m) =>
            m.kind === 'EVENT' &&
            guest.markers.filter((x) => x.kind === 'EVENT').length >= n &&
            m.fields['state'] === state,
          60_000,
        );
      await event(1, 'present');
      await card.removeCard();
      await event(2, 'empty');
      await card.insertCard();
      await event(3, 'present');
      await card.close();
      const r = await guest.result;
      expect(r.events.map((e) => [e.fields['state'], e.fields['atr']])).toEqual([
        ['present', bytesToHex(TEST_CARD_ATR)],
        ['empty', ''],
        ['present', bytesToHex(TEST_CARD_ATR)],
        ['empty', ''],
      ]);
    },
    BOOT_TIMEOUT_MS,
  );
  it(
    'holds the guest until the card is removed (until-removed)',
    async () => {
      const { guest, card } = await boot({
        scenario: ['atr', 'until-removed'],
        args: { seconds: 60 },
      });
      await guest.waitForMarker((m) => m.kind === 'RESULT' && m.fields['name'] === 'atr', 60_000);
      // With the card still in, the guest keeps waiting instead of finishing.
      await new Promise((resolve) => setTimeout(resolve, 1500));
      expect(guest.markers.some((m) => m.kind === 'DONE')).toBe(false);
      await card.removeCard();
      const r = await guest.result;
      expect(r.results.map((m) => [m.fields['name'], m.fields['ok']])).toEqual([
        ['atr', '1'],
        ['until-removed', '1'],
      ]);
    },
    BOOT_TIMEOUT_MS,
  );
});

describe('guest on QEMU 10.0 (bookworm-backports) with the direct card', () => {
  it(
    'sees the ATR and round-trips APDUs including a long answer',
    async () => {
      const qemu10 = await ensureQemu10();
      const { guest } = await boot({
        scenario: ['atr', 'apdu'],
        args: { apdus: [SELECT, '801003E800'].join(',') },
        qemuBinary: qemu10.binary,
        qemuEnv: qemu10.env,
        qemuArgsExtra: qemu10.args,
      });
      const r = await guest.result;
      expect(r.results.find((m) => m.fields['name'] === 'atr')?.fields['atr']).toBe(
        bytesToHex(TEST_CARD_ATR),
      );
      const apdus = r.results.filter((m) => m.fields['name'] === 'apdu');
      expect(apdus.map((m) => m.fields['sw'])).toEqual(['9000', '9000']);
      expect(hexToBytes(apdus[1]?.fields['data'] ?? '')).toEqual(testPattern(1000));
    },
    BOOT_TIMEOUT_MS + 120_000,
  );
});
