/** Dial-in mode against real QEMU: the VM's chardev connects to the relay (issue 6). */
import net from 'node:net';
import { clientInit, RelayClose } from '@cardlend/vscard';
import { findFreePort, type QemuVersion } from '@cardlend/qemu-testbed';
import { describe, expect, it } from 'vitest';
import type { ServerEvent } from '../src/server.ts';
import { Browser, startTestRelay, until, wsUrl } from './helpers.ts';
import { CAC_ATR, qemuRigPerTest, VscardBrowser } from './relay-rig.ts';

function connectedCount(events: ServerEvent[]): number {
  return events.filter((e) => e.kind === 'dial-in' && e.event.kind === 'vm-connected').length;
}

describe.each<QemuVersion>(['7.2', '10.0'])('dial-in with real QEMU %s', (version) => {
  const rig = qemuRigPerTest(version);
  const openPage = async () => new VscardBrowser(await rig.open());

  /** A relay whose default target dials in; its events and the port QEMU dials. */
  async function setup(): Promise<{ events: ServerEvent[]; port: number }> {
    const port = await findFreePort();
    const events = await rig.startRelay(0, {
      targets: { default: { host: '127.0.0.1', port, isDialIn: true } },
    });
    expect(rig.relay.dialInPorts.get('default')).toBe(port);
    return { events, port };
  }

  it('parks QEMU’s connection, hands it to a session, and gets it back after the session', async () => {
    const { events, port } = await setup();
    const qemu = await rig.startQemu({ debug: 2, dialIn: { port } });
    await until(() => connectedCount(events) === 1, 5000, 'QEMU connected');
    const b = await openPage();
    expect(await b.request(clientInit())).toMatchObject({ type: 'Init', version: 2 });
    await b.expectAck({ type: 'ReaderAdd', readerId: 0, name: '' });
    await b.expectAck({ type: 'ATR', readerId: 0, atr: CAC_ATR });
    const mark = qemu.output.length;
    b.browser.ws.close(1000);
    await qemu.waitForLog(/VSC_CardRemove/, 3000, mark);
    await qemu.waitForLog(/CCID Detach/, 3000, mark);
    // QEMU reconnects (reconnect=1) and a new session is served.
    await until(() => connectedCount(events) === 2, 5000, 'QEMU reconnected');
    const next = await openPage();
    expect(await next.request(clientInit())).toMatchObject({ type: 'Init' });
  });

  it('a browser that arrives first waits for the VM to dial in', async () => {
    const { events, port } = await setup();
    const b = await openPage();
    b.send(clientInit()); // held until the VM is there
    await rig.startQemu({ dialIn: { port } });
    expect(await b.receive()).toMatchObject({ type: 'Init' });
    expect(connectedCount(events)).toBe(1);
  });

  it('refuses a stranger while the VM’s connection is held and notices the VM leaving', async () => {
    const { events, port } = await setup();
    await rig.startQemu({ dialIn: { port } });
    await until(() => connectedCount(events) === 1, 5000, 'QEMU connected');
    const stranger = net.connect({ host: '127.0.0.1', port });
    stranger.on('error', () => {});
    await new Promise<void>((resolve) => stranger.once('close', () => resolve()));
    expect(events.some((e) => e.kind === 'dial-in' && e.event.kind === 'vm-refused')).toBe(true);
    await rig.stopQemu();
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
