import { describe, expect, it } from 'vitest';
import { createFakeUsb, type FakeUsbConnectionEvent } from '../src/fake-usb.ts';
import { readerProfiles } from '../src/profiles.ts';
import { SimulatedReader } from '../src/simulated-reader.ts';

const flush = () => new Promise((r) => setTimeout(r, 0));

describe('createFakeUsb', () => {
  it('requestDevice honours filters (classCode matches interface class) and grants the device', async () => {
    const ccid = new SimulatedReader({ profile: readerProfiles.shortApdu });
    const vendor = new SimulatedReader({ profile: readerProfiles.vendorClass });
    const usb = createFakeUsb({ readers: [ccid, vendor] });
    expect(await usb.getDevices()).toEqual([]);
    expect(await usb.requestDevice({ filters: [{ classCode: 0xff }] })).toBe(vendor.device);
    expect(await usb.requestDevice({ filters: [{ classCode: 0x0b }] })).toBe(ccid.device);
    expect(await usb.requestDevice({ filters: [{ vendorId: 0x04e6, productId: 0x5111 }] })).toBe(
      vendor.device,
    );
    await expect(usb.requestDevice({ filters: [{ classCode: 0x03 }] })).rejects.toMatchObject({
      name: 'NotFoundError',
    });
    await expect(
      usb.requestDevice({
        filters: [{ classCode: 0x0b }],
        exclusionFilters: [{ vendorId: 0x058f }],
      }),
    ).rejects.toMatchObject({ name: 'NotFoundError' });
    await expect(usb.requestDevice(undefined)).rejects.toBeInstanceOf(TypeError);
    await expect(usb.requestDevice({ filters: [{ productId: 1 }] })).rejects.toBeInstanceOf(
      TypeError,
    );
    expect((await usb.getDevices()).length).toBe(2);
  });

  it('the chooser plays the user and can cancel', async () => {
    const a = new SimulatedReader({ profile: readerProfiles.tpduT0 });
    const b = new SimulatedReader({ profile: readerProfiles.tpduT1NoAuto });
    let offered: number[] = [];
    let pick: SimulatedReader | undefined = b;
    const usb = createFakeUsb({
      readers: [a, b],
      chooser: (c) => {
        offered = c.map((r) => r.device.productId);
        return pick;
      },
    });
    expect(await usb.requestDevice({ filters: [{ classCode: 0x0b }] })).toBe(b.device);
    expect(offered).toEqual([0x3437, 0x90cc]);
    pick = undefined;
    await expect(usb.requestDevice({ filters: [] })).rejects.toMatchObject({
      name: 'NotFoundError',
      message: 'No device selected.',
    });
  });

  it('connect / disconnect events for granted devices, via listeners and on* handlers', async () => {
    const reader = new SimulatedReader({ profile: readerProfiles.vendorClass });
    const usb = createFakeUsb({ granted: [reader] });
    const events: string[] = [];
    const listener = (e: FakeUsbConnectionEvent) =>
      events.push(`${e.type}:${e.device.productId.toString(16)}`);
    usb.addEventListener('connect', listener);
    usb.addEventListener('disconnect', listener);
    usb.ondisconnect = () => events.push('ondisconnect');
    usb.plug(reader);
    await flush();
    expect(await usb.getDevices()).toEqual([reader.device]);
    reader.unplug();
    await flush();
    expect(events).toEqual(['connect:5111', 'ondisconnect', 'disconnect:5111']);
    expect(await usb.getDevices()).toEqual([]);
    usb.removeEventListener('connect', listener);
    const other = new SimulatedReader({ profile: readerProfiles.shortApdu });
    usb.plug(other); // not granted: no event
    await flush();
    expect(events).toHaveLength(3);
  });

  it('forget() removes the device from getDevices', async () => {
    const reader = new SimulatedReader({ profile: readerProfiles.vendorClass });
    const usb = createFakeUsb({ readers: [reader] });
    const d = await usb.requestDevice({ filters: [{ classCode: 0xff }] });
    await d.forget();
    expect(await usb.getDevices()).toEqual([]);
  });
});
