import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  ensureQemu10,
  RAW_INIT_PAYLOAD,
  RAW_VSC,
  RawVscardClient,
  startQemu,
  toHex,
} from '../src/index.ts';
import type { QemuHandle, QemuVersion } from '../src/index.ts';

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe.each<QemuVersion>(['7.2', '10.0'])('QEMU %s', (version) => {
  let qemu: QemuHandle | undefined;
  let client: RawVscardClient | undefined;

  beforeAll(async () => {
    if (version === '10.0') await ensureQemu10();
  });

  afterEach(async () => {
    client?.destroy();
    client = undefined;
    await qemu?.stop();
    qemu = undefined;
  });

  it('listens on its VSCard port at once and answers Init with Init', async () => {
    qemu = await startQemu({ version });
    expect(qemu.port).toBeGreaterThan(0);
    client = await RawVscardClient.connect(qemu.port);
    client.send(RAW_VSC.Init, 0, RAW_INIT_PAYLOAD);
    const reply = await client.next();
    // vscard-protocol.md §2.7: QEMU Init, reader_id 0xFFFFFFFF, VSCD, version 2, caps [0].
    expect(toHex(reply.bytes)).toBe('00000001ffffffff0000000c565343440000000200000000');
  });

  it('runs HMP commands through the monitor', async () => {
    qemu = await startQemu({ version });
    const usb = await qemu.hmp('info usb');
    expect(usb).toMatch(/QEMU USB CCID/);
    const version_ = await qemu.hmp('info version');
    expect(version_).toMatch(version === '7.2' ? /^7\.2/ : /^10\.0/);
  });

  it('shows debug output when asked (usb-ccid / ccid-card-passthru debug=N)', async () => {
    qemu = await startQemu({ version, debug: 2 });
    client = await RawVscardClient.connect(qemu.port);
    const mark = qemu.output.length;
    client.send(RAW_VSC.ATR, 0, '3b 84 01 56 53 43 44 87'); // refused by QEMU's ATR check (§3.1)
    const ack = await client.next();
    expect(toHex(ack.payload)).toBe('00000001');
    await expect(qemu.waitForLog(/ATR is inconsistent/, 3000, mark)).resolves.toMatch(
      /inconsistent/,
    );
  });

  it('stop() ends exactly that process', async () => {
    const a = await startQemu({ version });
    const b = await startQemu({ version });
    try {
      expect(a.port).not.toBe(b.port);
      await a.stop();
      expect(a.exited).toBe(true);
      expect(isAlive(a.pid)).toBe(false);
      expect(isAlive(b.pid)).toBe(true);
      // b still serves VSCard.
      client = await RawVscardClient.connect(b.port);
      client.send(RAW_VSC.Init, 0, RAW_INIT_PAYLOAD);
      expect((await client.next()).type).toBe(RAW_VSC.Init);
    } finally {
      await b.stop();
    }
    expect(isAlive(b.pid)).toBe(false);
  });

  it('rejects a taken port with a typed error', async () => {
    qemu = await startQemu({ version });
    await expect(startQemu({ version, port: qemu.port })).rejects.toMatchObject({
      code: 'TESTBED_QEMU_START_FAILED',
    });
  });
});
