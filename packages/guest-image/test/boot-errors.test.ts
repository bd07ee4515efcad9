import { describe, expect, it } from 'vitest';
import { freePort, startGuest } from '../src/boot-guest.ts';
import { startDirectCard } from '../src/direct-card.ts';
import { createTestCard } from '../src/test-card.ts';

const image = { kernelPath: '/nonexistent/vmlinux', initrdPath: '/nonexistent/initramfs.cpio' };

describe('startGuest failures are typed', () => {
  it('rejects with GUEST_QEMU_FAILED when the QEMU binary cannot start', async () => {
    const guest = startGuest({
      image,
      scenario: 'atr',
      vscardPort: 1,
      qemuBinary: '/nonexistent/qemu',
    });
    await expect(guest.result).rejects.toMatchObject({ code: 'GUEST_QEMU_FAILED' });
    await expect(guest.waitForMarker(() => true)).rejects.toMatchObject({
      code: 'GUEST_QEMU_FAILED',
    });
  });

  it('rejects with GUEST_QEMU_FAILED when QEMU exits before the guest finished (bad kernel path)', async () => {
    const guest = startGuest({ image, scenario: 'atr', vscardPort: await freePort() });
    await expect(guest.result).rejects.toMatchObject({ code: 'GUEST_QEMU_FAILED' });
  }, 30_000);

  it('rejects bad scenario arguments synchronously', () => {
    expect(() =>
      startGuest({ image, scenario: 'apdu', args: { apdus: '00 A4' }, vscardPort: 1 }),
    ).toThrow(RangeError);
  });
});

describe('startDirectCard failures are typed', () => {
  it('rejects with GUEST_VSCARD_PEER when nobody listens', async () => {
    const port = await freePort();
    await expect(
      startDirectCard({ port, card: createTestCard(), connectTimeoutMs: 200 }),
    ).rejects.toMatchObject({
      code: 'GUEST_VSCARD_PEER',
    });
  });

  it('rejects with GUEST_VSCARD_PEER when the peer never acknowledges', async () => {
    const { createServer } = await import('node:net');
    const server = createServer((s) => s.on('data', () => undefined));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const addr = server.address();
    const port = typeof addr === 'object' && addr ? addr.port : 0;
    try {
      await expect(
        startDirectCard({ port, card: createTestCard(), ackTimeoutMs: 200 }),
      ).rejects.toMatchObject({
        code: 'GUEST_VSCARD_PEER',
      });
    } finally {
      server.close();
    }
  });

  it('rejects with GUEST_VSCARD_PEER when the peer sends garbage', async () => {
    const { createServer } = await import('node:net');
    // A header announcing a 0x7FFFFFFF-byte payload: beyond the 65524-byte limit (vscard-protocol.md §5).
    const server = createServer((s) =>
      s.write(Uint8Array.of(0, 0, 0, 7, 0, 0, 0, 0, 0x7f, 0xff, 0xff, 0xff)),
    );
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const addr = server.address();
    const port = typeof addr === 'object' && addr ? addr.port : 0;
    try {
      await expect(startDirectCard({ port, card: createTestCard() })).rejects.toMatchObject({
        code: 'GUEST_VSCARD_PEER',
      });
    } finally {
      server.close();
    }
  });
});
