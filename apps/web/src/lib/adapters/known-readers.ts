/**
 * "Use <reader> again" (issue 14 §10): readers this page was allowed to use before come back
 * from `navigator.usb.getDevices()` without the chooser. Opening one goes through the very
 * same path as a reader picked in the chooser: the next `requestDevice()` call (the one the
 * lending state makes) is answered with that device instead of showing the chooser.
 */
import { CCID_USB_FILTERS } from '@cardlend/ccid/webusb';

export interface KnownReader {
  /** What the person reads: the product name, or the USB ids. */
  name: string;
  device: USBDevice;
}

const hex4 = (n: number): string => n.toString(16).padStart(4, '0');

/** The name the page shows for a reader (the same rule as for a chosen one). */
export function readerName(device: USBDevice): string {
  const product = (device.productName ?? '').trim();
  return product !== '' ? product : `USB reader ${hex4(device.vendorId)}:${hex4(device.productId)}`;
}

/** True when the device has an interface the reader chooser would offer (CCID_USB_FILTERS). */
export function isReaderCandidate(device: USBDevice): boolean {
  const classes = new Set(CCID_USB_FILTERS.map((f) => f.classCode));
  return device.configurations.some((c) =>
    c.interfaces.some((i) => i.alternates.some((a) => classes.has(a.interfaceClass))),
  );
}

/** Readers this page may open without the chooser; [] without WebUSB or on any failure. */
export async function listKnownReaders(usb: USB | undefined): Promise<KnownReader[]> {
  if (usb === undefined) return [];
  try {
    const devices = await usb.getDevices();
    return devices
      .filter(isReaderCandidate)
      .map((device) => ({ name: readerName(device), device }));
  } catch {
    return [];
  }
}
