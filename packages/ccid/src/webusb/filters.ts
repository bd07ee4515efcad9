/** Filters for `navigator.usb.requestDevice`: smart-card class and vendor class (a few CCID readers use 0xFF). */
export const CCID_USB_FILTERS: USBDeviceFilter[] = [{ classCode: 0x0b }, { classCode: 0xff }];

/**
 * The one place that touches `navigator.usb` (style.md §2): asks the user to pick a reader.
 * Returns undefined when WebUSB is unavailable or the user cancels.
 */
export async function requestCcidDevice(
  usb: USB | undefined = (globalThis as { navigator?: { usb?: USB } }).navigator?.usb,
): Promise<USBDevice | undefined> {
  if (!usb) return undefined;
  try {
    return await usb.requestDevice({ filters: CCID_USB_FILTERS });
  } catch {
    return undefined;
  }
}
