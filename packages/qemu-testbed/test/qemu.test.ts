import net from 'node:net';
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
import { isProcessAlive } from '../src/process-alive.ts';

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
      expect(isProcessAlive(a.pid)).toBe(false);
      expect(isProcessAlive(b.pid)).toBe(true);
      // b still serves VSCard.
      client = await RawVscardClient.connect(b.port);
      client.send(RAW_VSC.Init, 0, RAW_INIT_PAYLOAD);
      expect((await client.next()).type).toBe(RAW_VSC.Init);
    } finally {
      await b.stop();
    }
    expect(isProcessAlive(b.pid)).toBe(false);
  });

  it('rejects a taken port with a typed error', async () => {
    qemu = await startQemu({ version });
    await expect(startQemu({ version, port: qemu.port })).rejects.toMatchObject({
      code: 'TESTBED_QEMU_START_FAILED',
    });
  });
});

describe.each<QemuVersion>(['7.2', '10.0'])('QEMU %s in dial-in mode', (version) => {
  it('connects to a listener and reconnects after a close', async () => {
    if (version === '10.0') await ensureQemu10();
    const accepted: net.Socket[] = [];
    const server = net.createServer((s) => accepted.push(s));
    await new Promise<void>((r) => server.listen({ host: '127.0.0.1', port: 0 }, r));
    const port = (server.address() as net.AddressInfo).port;
    const qemu = await startQemu({ version, dialIn: { port } });
    try {
      expect(qemu.port).toBe(port);
      const deadline = Date.now() + 5000;
      while (accepted.length === 0 && Date.now() < deadline)
        await new Promise((r) => setTimeout(r, 20));
      expect(accepted).toHaveLength(1);
      // Init ↔ Init over QEMU's own connection.
      const first = accepted[0] as net.Socket;
      const reply = new Promise<Buffer>((resolve) => first.once('data', resolve));
      first.write(Buffer.from('00000001000000000000000c565343440000000200000000', 'hex'));
      expect((await reply).readUInt32BE(0)).toBe(1);
      first.destroy();
      while (accepted.length < 2 && Date.now() < deadline + 5000)
        await new Promise((r) => setTimeout(r, 20));
      expect(accepted).toHaveLength(2);
    } finally {
      await qemu.stop();
      for (const s of accepted) s.destroy();
      server.close();
    }
  });
});
