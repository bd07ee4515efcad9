import { describe, expect, it } from 'vitest';
import { CHROME_USB_MESSAGES as M } from '../src/dom-exception.ts';
import { readerProfiles } from '../src/profiles.ts';
import { SimulatedReader } from '../src/simulated-reader.ts';
import { createT0Card } from '../src/virtual-card.ts';
import { encodeCommand, MiniHost } from './helpers/mini-host.ts';

describe('WebUSB surface like Chrome', () => {
  it('exposes configuration, interface, alternate and endpoint objects', async () => {
    const reader = new SimulatedReader({ profile: readerProfiles.packet16, serialNumber: 'X1' });
    const d = reader.device;
    expect(d.serialNumber).toBe('X1');
    expect(d.configurations).toHaveLength(1);
    expect(d.configuration?.configurationValue).toBe(1);
    const itf = d.configuration!.interfaces[0]!;
    expect(itf.claimed).toBe(false);
    expect(
      itf.alternate.endpoints.map((e) => [e.endpointNumber, e.direction, e.type, e.packetSize]),
    ).toEqual([
      [1, 'out', 'bulk', 16],
      [2, 'in', 'bulk', 16],
      [3, 'in', 'interrupt', 4],
    ]);
    expect(d.opened).toBe(false);
    await d.open();
    await d.claimInterface(0);
    expect(itf.claimed).toBe(true);
    await d.releaseInterface(0);
    expect(itf.claimed).toBe(false);
    await d.close();
    expect(d.opened).toBe(false);
  });

  it('refuses a class-0x0B interface with the protected-class SecurityError when emulating Chrome', async () => {
    const reader = new SimulatedReader({ profile: readerProfiles.shortApdu, emulateChrome: true });
    await reader.device.open();
    await expect(reader.device.claimInterface(0)).rejects.toMatchObject({
      name: 'SecurityError',
      message: M.protectedClass,
    });
    const vendor = new SimulatedReader({
      profile: readerProfiles.vendorClass,
      emulateChrome: true,
    });
    await vendor.device.open();
    await expect(vendor.device.claimInterface(0)).resolves.toBeUndefined();
  });

  it('held by another program: claim fails on Linux/macOS, open fails on Windows', async () => {
    const linux = new SimulatedReader({ profile: readerProfiles.vendorClass });
    linux.setHeldByOtherProgram(true, 'linux');
    await linux.device.open();
    await expect(linux.device.claimInterface(0)).rejects.toMatchObject({
      name: 'NetworkError',
      message: M.unableToClaim,
    });
    linux.setHeldByOtherProgram(false);
    await expect(linux.device.claimInterface(0)).resolves.toBeUndefined();
    const win = new SimulatedReader({ profile: readerProfiles.vendorClass });
    win.setHeldByOtherProgram(true, 'windows');
    await expect(win.device.open()).rejects.toMatchObject({
      name: 'SecurityError',
      message: M.accessDenied,
    });
  });

  it('state errors: transfers need open + claim, unknown interface and configuration', async () => {
    const { device } = new SimulatedReader({ profile: readerProfiles.tpduT0 });
    await expect(device.transferOut(1, new Uint8Array(10))).rejects.toMatchObject({
      name: 'InvalidStateError',
      message: M.openRequired,
    });
    await device.open();
    await expect(device.transferIn(2, 64)).rejects.toMatchObject({
      name: 'NotFoundError',
      message: M.endpointNotFound,
    });
    await expect(device.claimInterface(1)).rejects.toMatchObject({
      name: 'NotFoundError',
      message: M.interfaceNotFound,
    });
    await expect(device.selectConfiguration(2)).rejects.toMatchObject({ name: 'NotFoundError' });
    await device.selectConfiguration(1);
    await device.claimInterface(0);
    await expect(device.transferIn(0, 64)).rejects.toMatchObject({ name: 'IndexSizeError' });
    await expect(device.transferIn(1, 64)).rejects.toMatchObject({ name: 'NotFoundError' }); // EP1 is OUT
  });

  it('no interrupt endpoint on the noInterrupt profile', async () => {
    const reader = new SimulatedReader({ profile: readerProfiles.noInterrupt });
    await new MiniHost(reader).open();
    await expect(reader.device.transferIn(3, 8)).rejects.toMatchObject({ name: 'NotFoundError' });
  });

  it('unplug rejects pending and later calls with NotFoundError', async () => {
    const reader = new SimulatedReader({ profile: readerProfiles.tpduT0 });
    const host = new MiniHost(reader);
    await host.open();
    const pending = reader.device.transferIn(2, 64);
    const pendingInt = reader.device.transferIn(3, 8);
    reader.unplug();
    await expect(pending).rejects.toMatchObject({
      name: 'NotFoundError',
      message: M.deviceDisconnected,
    });
    await expect(pendingInt).rejects.toMatchObject({ name: 'NotFoundError' });
    await expect(reader.device.transferOut(1, new Uint8Array(10))).rejects.toMatchObject({
      name: 'NotFoundError',
    });
    expect(reader.device.opened).toBe(false);
  });

  it('close cancels a pending transfer with AbortError; reset and forget work', async () => {
    const reader = new SimulatedReader({ profile: readerProfiles.tpduT0 });
    const host = new MiniHost(reader);
    await host.open();
    const pending = reader.device.transferIn(2, 64);
    await reader.device.close();
    await expect(pending).rejects.toMatchObject({ name: 'AbortError' });
    await host.open();
    await reader.device.reset();
    await reader.device.forget();
    expect(reader.isForgotten).toBe(true);
  });

  it('counts transfers in stats', async () => {
    const reader = new SimulatedReader({ profile: readerProfiles.shortApdu });
    reader.insertCard(createT0Card());
    const host = new MiniHost(reader);
    await host.open();
    await host.powerOn();
    expect(reader.stats.bulkOut).toBe(1);
    expect(reader.stats.bulkIn).toBeGreaterThanOrEqual(1);
    await host.write(encodeCommand(0x65, { seq: 9 }));
    expect((await host.read()).seq).toBe(9);
  });
});
