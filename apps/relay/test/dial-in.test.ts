/** Dial-in mode against real QEMU: the VM's chardev connects to the relay (issue 6). */
import net from 'node:net';
import {
  clientInit,
  decodeMessage,
  encodeMessage,
  RelayClose,
  type VscardMessage,
} from '@cardlend/vscard';
import {
  ensureQemu10,
  findFreePort,
  type QemuHandle,
  type QemuVersion,
  startQemu,
} from '@cardlend/qemu-testbed';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { RelayServer, ServerEvent } from '../src/server.ts';
import { Browser, startTestRelay, until, wsUrl } from './helpers.ts';

const CAC_ATR = Uint8Array.from(Buffer.from('3b7a18000073667465206364313434', 'hex'));

async function request(b: Browser, msg: VscardMessage, index: number): Promise<VscardMessage> {
  b.send(encodeMessage(msg));
  return decodeMessage(Uint8Array.from(await b.frame(index, 5000)));
}

function connectedCount(events: ServerEvent[]): number {
  return events.filter((e) => e.kind === 'dial-in' && e.event.kind === 'vm-connected').length;
}

describe.each<QemuVersion>(['7.2', '10.0'])('dial-in with real QEMU %s', (version) => {
  let qemu: QemuHandle | undefined;
  let relay: RelayServer | undefined;
  const browsers: Browser[] = [];

  beforeAll(async () => {
    if (version === '10.0') await ensureQemu10();
  });

  afterEach(async () => {
    for (const b of browsers.splice(0)) b.ws.terminate();
    await relay?.close();
    await qemu?.stop();
    relay = undefined;
    qemu = undefined;
  });

  async function setup(): Promise<ServerEvent[]> {
    const port = await findFreePort();
    const started = await startTestRelay(0, {
      targets: { default: { host: '127.0.0.1', port, isDialIn: true } },
    });
    relay = started.relay;
    expect(relay.dialInPorts.get('default')).toBe(port);
    return started.events;
  }

  it('parks QEMU’s connection, hands it to a session, and gets it back after the session', async () => {
    const events = await setup();
    qemu = await startQemu({
      version,
      debug: 2,
      dialIn: { port: relay?.dialInPorts.get('default') as number },
    });
    await until(() => connectedCount(events) === 1, 5000, 'QEMU connected');
    const b = new Browser(wsUrl(relay as RelayServer));
    browsers.push(b);
    await b.opened;
    expect(await request(b, clientInit(), 0)).toMatchObject({ type: 'Init', version: 2 });
    expect(await request(b, { type: 'ReaderAdd', readerId: 0, name: '' }, 1)).toMatchObject({
      code: 0,
    });
    expect(await request(b, { type: 'ATR', readerId: 0, atr: CAC_ATR }, 2)).toMatchObject({
      code: 0,
    });
    const mark = qemu.output.length;
    b.ws.close(1000);
    await qemu.waitForLog(/VSC_CardRemove/, 3000, mark);
    await qemu.waitForLog(/CCID Detach/, 3000, mark);
    // QEMU reconnects (reconnect=1) and a new session is served.
    await until(() => connectedCount(events) === 2, 5000, 'QEMU reconnected');
    const next = new Browser(wsUrl(relay as RelayServer));
    browsers.push(next);
    await next.opened;
    expect(await request(next, clientInit(), 0)).toMatchObject({ type: 'Init' });
  });

  it('a browser that arrives first waits for the VM to dial in', async () => {
    const events = await setup();
    const b = new Browser(wsUrl(relay as RelayServer));
    browsers.push(b);
    await b.opened;
    b.send(encodeMessage(clientInit())); // held until the VM is there
    qemu = await startQemu({
      version,
      dialIn: { port: relay?.dialInPorts.get('default') as number },
    });
    expect(decodeMessage(Uint8Array.from(await b.frame(0, 5000)))).toMatchObject({ type: 'Init' });
    expect(connectedCount(events)).toBe(1);
  });

  it('refuses a stranger while the VM’s connection is held and notices the VM leaving', async () => {
    const events = await setup();
    const port = relay?.dialInPorts.get('default') as number;
    qemu = await startQemu({ version, dialIn: { port } });
    await until(() => connectedCount(events) === 1, 5000, 'QEMU connected');
    const stranger = net.connect({ host: '127.0.0.1', port });
    stranger.on('error', () => {});
    await new Promise<void>((resolve) => stranger.once('close', () => resolve()));
    expect(events.some((e) => e.kind === 'dial-in' && e.event.kind === 'vm-refused')).toBe(true);
    await qemu.stop();
    qemu = undefined;
    await until(
      () => events.some((e) => e.kind === 'dial-in' && e.event.kind === 'vm-disconnected'),
      5000,
      'VM gone',
    );
  });
});

describe('dial-in without a VM', () => {
  it('closes the browser with VM_UNREACHABLE after connectTimeoutMs', async () => {
    const { relay } = await startTestRelay(0, {
      targets: { default: { host: '127.0.0.1', port: 0, isDialIn: true } },
      connectTimeoutMs: 300,
    });
    try {
      const b = new Browser(wsUrl(relay));
      const closed = await b.closed;
      expect(closed.code).toBe(RelayClose.VM_UNREACHABLE);
      expect(closed.reason).toMatch(/not connected to the relay/);
    } finally {
      await relay.close();
    }
  });
});
