/**
 * Real middleware in the guest: OpenSC's PKCS#11 module (PIV driver) lists the PIV demo
 * card's certificate and signs with its key; the host verifies the signature (issue 5).
 */
import { constants, publicDecrypt, verify, X509Certificate } from 'node:crypto';
import { createPivDemoCard, type PivDemoCard } from '@cardlend/card-sim';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  freePort,
  startGuest,
  type BootGuestOptions,
  type GuestRunResult,
} from '../src/boot-guest.ts';
import { buildGuest, type GuestImage } from '../src/build-guest.ts';
import { startDirectCard, type DirectCard } from '../src/direct-card.ts';
import { hexToBytes } from '../src/markers.ts';

const BOOT_TIMEOUT_MS = 120_000;
let image: GuestImage;
let piv: PivDemoCard;
const cleanups: (() => Promise<void>)[] = [];

beforeAll(async () => {
  [image, piv] = await Promise.all([buildGuest(), createPivDemoCard()]);
}, 300_000);

afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => undefined);
});

async function run(
  opts: Omit<BootGuestOptions, 'image' | 'vscardPort'>,
): Promise<{ result: GuestRunResult; card: DirectCard }> {
  const port = await freePort();
  const guest = startGuest({ image, vscardPort: port, timeoutMs: BOOT_TIMEOUT_MS, ...opts });
  cleanups.push(() => guest.kill());
  piv.reset?.();
  const card = await startDirectCard({ port, card: piv });
  cleanups.push(async () => card.destroy());
  return { result: await guest.result, card };
}

const text = (hex: string | undefined): string =>
  Buffer.from(hexToBytes(hex ?? '')).toString('utf8');

describe('PKCS#11 in the guest with the PIV demo card (QEMU 7.2, direct card)', () => {
  it(
    'lists the token and certificate, signs after VERIFY (RSA-PKCS and SHA256-RSA-PKCS); the host verifies both against the exported certificate',
    async () => {
      const { result, card } = await run({
        scenario: ['pkcs11-list', 'pkcs11-sign'],
        args: { data: 'cardlend-e2e-signature', pin: '123456' },
      });
      const list = result.results.find((m) => m.fields['name'] === 'pkcs11-list');
      expect(list?.fields['ok']).toBe('1');
      const slots = text(list?.fields['slotshex']);
      expect(slots).toMatch(/token label\s*:/);
      expect(slots).not.toMatch(/token not recognized/);
      const objects = text(list?.fields['objectshex']);
      expect(objects).toMatch(/Certificate Object; type = X\.509 cert/);
      expect(objects).toMatch(/ID:\s+01/);

      const r = result.results.find((m) => m.fields['name'] === 'pkcs11-sign');
      expect(r?.fields['ok'], text(r?.fields['out'])).toBe('1');
      expect(text(r?.fields['data'])).toBe('cardlend-e2e-signature');
      const cert = hexToBytes(r?.fields['cert'] ?? '');
      expect(Buffer.from(cert)).toEqual(Buffer.from(piv.certificateDer));
      const publicKey = new X509Certificate(cert).publicKey;
      const sig = hexToBytes(r?.fields['sig'] ?? '');
      expect(sig.length).toBe(256);
      // RSA-PKCS = PKCS#1 v1.5 type 1 padding of the raw data (PKCS#11 v2.40 §2.1.6): recover and compare.
      const recovered = publicDecrypt(
        { key: publicKey, padding: constants.RSA_PKCS1_PADDING },
        sig,
      );
      expect(recovered.toString('utf8')).toBe('cardlend-e2e-signature');
      // SHA256-RSA-PKCS: a standard RSASSA-PKCS1-v1_5 signature over SHA-256.
      const sig256 = hexToBytes(r?.fields['sha256sig'] ?? '');
      expect(verify('sha256', Buffer.from('cardlend-e2e-signature'), publicKey, sig256)).toBe(true);
      expect(verify('sha256', Buffer.from('cardlend-e2e-signaturf'), publicKey, sig256)).toBe(
        false,
      );
      // The 256-byte GENERAL AUTHENTICATE needed command chaining (CLA 0x10); no answer exceeded 374 bytes.
      expect(card.exchanges.some((e) => ((e.command[0] ?? 0) & 0x10) !== 0)).toBe(true);
      expect(Math.max(...card.exchanges.map((e) => e.answer.length))).toBeLessThanOrEqual(374);
      expect(piv.isPinVerified).toBe(true);
    },
    BOOT_TIMEOUT_MS,
  );
});
