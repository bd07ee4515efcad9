/**
 * The frame of the CLI's real-guest proofs: one proof run per QEMU version (the system's 7.2,
 * then 10.0 from the testbed), cleanups that run in reverse order after each test, and the
 * host side every proof starts from: a folder and a real pcscd with the PIV demo card; and
 * reading the guest's step results.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, expect, it } from 'vitest';
import { createPivDemoCard } from '@cardlend/card-sim';
import type { PivDemoCard } from '@cardlend/card-sim';
import { hexToBytes, waitForResult } from '@cardlend/guest-image';
import type { GuestHandle, GuestMarker } from '@cardlend/guest-image';
import { startPcscd, waitForCard } from '@cardlend/pcsc/testing';
import type { Pcscd, VpcdCard } from '@cardlend/pcsc/testing';
import { ensureQemu10 } from '@cardlend/qemu-testbed';

/** Which QEMU the guest boots under (none given: the system's 7.2). */
export interface QemuChoice {
  qemuBinary?: string;
  qemuEnv?: Readonly<Record<string, string>>;
  qemuArgsExtra?: readonly string[];
}

/** Registers `proof` under QEMU 7.2 (test `name`) and QEMU 10.0; `bootTimeoutMs` per boot. */
export function itOnBothQemus(
  name: string,
  proof: (qemu: QemuChoice) => Promise<void>,
  bootTimeoutMs: number,
): void {
  it(`QEMU 7.2: ${name}`, () => proof({}), bootTimeoutMs + 60_000);
  it(
    'QEMU 10.0: the same',
    async () => {
      const q = await ensureQemu10();
      await proof({ qemuBinary: q.binary, qemuEnv: q.env, qemuArgsExtra: q.args });
    },
    bootTimeoutMs + 180_000,
  );
}

/** A list to push cleanups on; after each test they run last-pushed first, errors ignored. */
export function cleanupsAfterEach(): (() => Promise<void> | void)[] {
  const cleanups: (() => Promise<void> | void)[] = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await Promise.resolve(c()).catch(() => undefined);
  });
  return cleanups;
}

/** A fresh folder (`prefix`…) and a real pcscd + vpcd with the PIV demo card present in its first reader; both cleaned up. */
export async function pivOnPcscd(
  cleanups: (() => Promise<void> | void)[],
  prefix: string,
): Promise<{ dir: string; pcscd: Pcscd; piv: PivDemoCard; pivLink: VpcdCard }> {
  const dir = mkdtempSync(path.join(os.tmpdir(), prefix));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  const pcscd = await startPcscd();
  cleanups.push(() => pcscd.stop());
  const piv = await createPivDemoCard();
  const pivLink = await pcscd.insertCard(piv);
  await waitForCard(pcscd.readers[0], 'present');
  return { dir, pcscd, piv, pivLink };
}

/** One boot with every step; PKCS#11 boots alone take ~40 s on the loaded 2-core machine. */
export const BOOT_TIMEOUT_MS = 420_000;
/** How long one guest step may take once the host has acted, ms. */
export const STEP_MS = 120_000;

/** The UTF-8 text a guest marker carries as hex (`out`, `outhex`, …). */
export const hexText = (h: string | undefined): string =>
  Buffer.from(hexToBytes(h ?? '')).toString('utf8');

/**
 * The nth (1-based) RESULT called `name` once the guest has printed it (within STEP_MS),
 * checked to be ok; errors name `what` (with the guest's last markers, or the step's output).
 */
export async function nthResult(
  guest: GuestHandle,
  name: string,
  n: number,
  what: string,
): Promise<GuestMarker> {
  const m = await waitForResult(guest, name, { n, timeoutMs: STEP_MS, what });
  expect(m.fields['ok'], `${what}: ${hexText(m.fields['out'])}`).toBe('1');
  return m;
}
