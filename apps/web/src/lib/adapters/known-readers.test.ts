import { describe, expect, it } from 'vitest';
import { isReaderCandidate, listKnownReaders, readerName } from './known-readers.ts';

function device(opts: { productName?: string; classes: number[] }): USBDevice {
  return {
    productName: opts.productName,
    vendorId: 0x04e6,
    productId: 0x5116,
    configurations: [
      {
        interfaces: opts.classes.map((interfaceClass) => ({
          alternates: [{ interfaceClass }],
        })),
      },
    ],
  } as unknown as USBDevice;
}

describe('known readers', () => {
  it('names a reader by its product name, else by its USB ids', () => {
    expect(readerName(device({ productName: ' SCR3310 ', classes: [0x0b] }))).toBe('SCR3310');
    expect(readerName(device({ classes: [0x0b] }))).toBe('USB reader 04e6:5116');
  });

  it('offers only devices the chooser would offer', async () => {
    expect(isReaderCandidate(device({ classes: [0x03] }))).toBe(false);
    expect(isReaderCandidate(device({ classes: [0x03, 0x0b] }))).toBe(true);
    const usb = {
      getDevices: async () => [
        device({ productName: 'Keyboard', classes: [0x03] }),
        device({ productName: 'Token', classes: [0xff] }),
      ],
    } as unknown as USB;
    expect((await listKnownReaders(usb)).map((r) => r.name)).toEqual(['Token']);
    expect(await listKnownReaders(undefined)).toEqual([]);
    const broken = { getDevices: async () => Promise.reject(new Error('x')) } as unknown as USB;
    expect(await listKnownReaders(broken)).toEqual([]);
  });
});
