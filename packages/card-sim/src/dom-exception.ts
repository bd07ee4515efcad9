/**
 * DOMExceptions shaped like Chrome's WebUSB rejections (third_party/blink/renderer/modules/webusb/
 * usb_device.cc). Uses the platform DOMException (browsers, Node ≥ 17); falls back to an Error with
 * the same `name` and `message`.
 */

/** Chrome's WebUSB error texts. */
export const CHROME_USB_MESSAGES = {
  accessDenied: 'Access denied.',
  deviceDisconnected: 'The device was disconnected.',
  openRequired: 'The device must be opened first.',
  configurationRequired: 'The device must have a configuration selected.',
  interfaceNotFound:
    'The interface number provided is not supported by the device in its current configuration.',
  interfaceNotClaimed: 'The specified interface has not been claimed.',
  protectedClass: 'The requested interface implements a protected class.',
  unableToClaim: 'Unable to claim interface.',
  endpointNotFound:
    'The specified endpoint is not part of a claimed and selected alternate interface.',
  endpointOutOfRange: 'The specified endpoint number is out of range.',
  configurationNotFound: 'The configuration value provided is not supported by the device.',
  transferCancelled: 'The transfer was cancelled.',
  alternateNotFound:
    'The alternate setting provided is not supported by the device in its current configuration.',
} as const;

/** DOMException names used by WebUSB. */
export type UsbDomExceptionName =
  | 'SecurityError'
  | 'NetworkError'
  | 'NotFoundError'
  | 'InvalidStateError'
  | 'AbortError'
  | 'IndexSizeError'
  | 'NotSupportedError';

type DomExceptionCtor = new (message?: string, name?: string) => Error;

/** Creates a DOMException (or an Error with the same name/message where none exists). */
export function domException(name: UsbDomExceptionName, message: string): Error {
  const Ctor = (globalThis as { DOMException?: DomExceptionCtor }).DOMException;
  if (Ctor) return new Ctor(message, name);
  const e = new Error(message);
  e.name = name;
  return e;
}
