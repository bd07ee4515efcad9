/**
 * The frame of the CLI's real-guest proofs: one proof run per QEMU version (the system's 7.2,
 * then 10.0 from the testbed), and cleanups that run in reverse order after each test.
 */
import { afterEach, it } from 'vitest';
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
