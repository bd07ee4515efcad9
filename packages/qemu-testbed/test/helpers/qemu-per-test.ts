/**
 * A fresh QEMU per test, for the tests that run against each QEMU version: QEMU 10 is fetched
 * before the first test; after each test its clients are destroyed and its QEMU stopped.
 */
import { afterEach, beforeAll } from 'vitest';
import {
  ensureQemu10,
  RawVscardClient,
  startQemu,
  type QemuHandle,
  type QemuVersion,
} from '../../src/index.ts';

export interface QemuPerTest {
  /** Starts this test's QEMU. */
  start(): Promise<QemuHandle>;
  /** A raw VSCard client on this test's QEMU. */
  connect(): Promise<RawVscardClient>;
  /** Destroys `client` after the test. */
  track(client: { destroy(): void }): void;
}

/** Registers the hooks in the calling `describe` for QEMU `version`. */
export function qemuPerTest(version: QemuVersion): QemuPerTest {
  let qemu: QemuHandle | undefined;
  const clients: { destroy(): void }[] = [];
  beforeAll(async () => {
    if (version === '10.0') await ensureQemu10();
  });
  afterEach(async () => {
    for (const c of clients.splice(0)) c.destroy();
    await qemu?.stop();
    qemu = undefined;
  });
  return {
    start: async () => (qemu = await startQemu({ version })),
    connect: async () => {
      if (qemu === undefined) throw new Error('start QEMU first');
      const c = await RawVscardClient.connect(qemu.port);
      clients.push(c);
      return c;
    },
    track: (client) => void clients.push(client),
  };
}
