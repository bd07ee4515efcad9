import { CcidError } from '../core/index.ts';

/** True when a WebUSB rejection means the device is gone (Chrome: NotFoundError "The device was disconnected."; node-usb: LIBUSB_ERROR_NO_DEVICE). */
export function isDisconnectError(e: unknown): boolean {
  if (typeof e !== 'object' || e === null) return false;
  const name = (e as { name?: unknown }).name;
  const msg = String((e as { message?: unknown }).message ?? '');
  return (
    name === 'NotFoundError' ||
    /disconnect|no device|no_device|not found|LIBUSB_ERROR_NO_DEVICE/i.test(msg)
  );
}

/** Wraps a platform failure of a transfer (style.md §3: `cause`, not interpolation). */
export function transferError(what: string, cause: unknown): CcidError {
  return new CcidError('CCID_TRANSFER_FAILED', `${what} failed`, { cause });
}
