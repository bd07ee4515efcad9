/**
 * The `USBDevice` object a WebUSB driver receives: attributes from the profile, and every method
 * checked the way Chrome checks it (usb_device.cc) before it reaches the simulated reader.
 */
import { toBytes } from '../bytes.ts';
import { CHROME_USB_MESSAGES as M, domException } from '../dom-exception.ts';
import type { ReaderProfile } from '../profiles.ts';
import type { UsbDeviceState } from './device-state.ts';
import type {
  SimConfiguration,
  SimEndpoint,
  SimInTransferResult,
  SimOutTransferResult,
} from './shape.ts';

/** The reader behind the device object; transfers are called once Chrome's checks passed. */
export interface DeviceBackend {
  readonly profile: ReaderProfile;
  readonly serialNumber: string;
  /** Refuse claimInterface on class 0x0B like Chrome does for pages. */
  readonly emulateChrome: boolean;
  readonly configuration: SimConfiguration;
  readonly state: UsbDeviceState;
  /** open() succeeded (it was not open before). */
  opened(): void;
  controlIn(setup: USBControlTransferParameters, length: number): SimInTransferResult;
  controlOut(setup: USBControlTransferParameters, data: Uint8Array): SimOutTransferResult;
  bulkIn(length: number): Promise<SimInTransferResult>;
  interruptIn(length: number): Promise<SimInTransferResult>;
  bulkOut(bytes: Uint8Array): SimOutTransferResult;
  /** USB reset: queues emptied, halts cleared, cards deactivated. */
  reset(): void;
}

/** Builds the `USBDevice` for `b`. */
export function createUsbDevice(b: DeviceBackend): USBDevice {
  const { profile: p, state } = b;
  const [maj, min, sub] = p.deviceVersion;
  const device = {
    usbVersionMajor: 2,
    usbVersionMinor: 0,
    usbVersionSubminor: 0,
    deviceClass: 0,
    deviceSubclass: 0,
    deviceProtocol: 0,
    vendorId: p.vendorId,
    productId: p.productId,
    deviceVersionMajor: maj,
    deviceVersionMinor: min,
    deviceVersionSubminor: sub,
    manufacturerName: p.manufacturer,
    productName: p.product,
    serialNumber: b.serialNumber,
    get configuration() {
      return state.isConfigured ? b.configuration : null;
    },
    configurations: [b.configuration],
    get opened() {
      return state.isOpened;
    },
  };
  Object.assign(device, sessionMethods(b), transferMethods(b));
  return device as unknown as USBDevice;
}

/** open/close/forget, configuration and interface selection. */
function sessionMethods(b: DeviceBackend) {
  const { state } = b;
  return {
    open: () =>
      state.run(() => {
        state.assertUsable();
        if (state.isOpened) return;
        if (state.heldBy === 'windows') throw domException('SecurityError', M.accessDenied);
        state.isOpened = true;
        b.opened();
      }),
    close: () =>
      state.run(() => {
        state.assertUsable();
        if (!state.isOpened) return;
        state.isOpened = false;
        state.isClaimed = false;
        const err = domException('AbortError', M.transferCancelled);
        state.rejectPending(() => err);
      }),
    forget: () =>
      state.run(() => {
        state.isForgotten = true;
        state.isOpened = false;
        state.isClaimed = false;
      }),
    selectConfiguration: (value: number) =>
      state.run(() => {
        state.assertOpen();
        if (value !== 1) throw domException('NotFoundError', M.configurationNotFound);
        state.isConfigured = true;
      }),
    claimInterface: (interfaceNumber: number) =>
      state.run(() => {
        state.assertInterface(interfaceNumber);
        if (state.isClaimed) return;
        if (b.emulateChrome && b.profile.interfaceClass === 0x0b) {
          throw domException('SecurityError', M.protectedClass);
        }
        if (state.heldBy === 'linux' || state.heldBy === 'macos') {
          throw domException('NetworkError', M.unableToClaim);
        }
        state.isClaimed = true;
      }),
    releaseInterface: (interfaceNumber: number) =>
      state.run(() => {
        state.assertInterface(interfaceNumber);
        state.isClaimed = false;
      }),
    selectAlternateInterface: (interfaceNumber: number, alternateSetting: number) =>
      state.run(() => {
        state.assertInterface(interfaceNumber);
        state.assertClaimed();
        if (alternateSetting !== 0) throw domException('NotFoundError', M.alternateNotFound);
      }),
  };
}

/** Chrome's endpoint check: in range, part of the claimed interface. */
function claimedEndpoint(
  b: DeviceBackend,
  direction: 'in' | 'out',
  endpointNumber: number,
): SimEndpoint {
  b.state.assertConfigured();
  if (endpointNumber <= 0 || endpointNumber >= 16)
    throw domException('IndexSizeError', M.endpointOutOfRange);
  const ep = b.configuration.endpoint(direction, endpointNumber);
  if (!ep || !b.state.isClaimed) throw domException('NotFoundError', M.endpointNotFound);
  return ep;
}

/** Control, bulk, interrupt and isochronous transfers, clearHalt and reset. */
function transferMethods(b: DeviceBackend) {
  const { state } = b;
  const checkControl = (setup: USBControlTransferParameters): void => {
    state.assertOpen();
    if (setup.recipient === 'interface') {
      state.assertInterface(setup.index & 0xff);
      state.assertClaimed();
    }
  };
  const noIsochronous = (): Promise<never> =>
    state.run(() => {
      state.assertConfigured();
      throw domException('NotFoundError', M.endpointNotFound);
    });
  return {
    controlTransferIn: (setup: USBControlTransferParameters, length: number) =>
      state.run(() => {
        checkControl(setup);
        return b.controlIn(setup, length);
      }, true),
    controlTransferOut: (
      setup: USBControlTransferParameters,
      data?: ArrayBuffer | ArrayBufferView,
    ) =>
      state.run(() => {
        checkControl(setup);
        return b.controlOut(setup, data ? toBytes(data) : new Uint8Array(0));
      }, true),
    clearHalt: (direction: 'in' | 'out', endpointNumber: number) =>
      state.run(() => {
        claimedEndpoint(b, direction, endpointNumber);
        if (direction === 'in') state.haltedIn = false;
        else state.haltedOut = false;
      }),
    transferIn: (endpointNumber: number, length: number) =>
      state.run(() => {
        const ep = claimedEndpoint(b, 'in', endpointNumber);
        return ep.type === 'interrupt' ? b.interruptIn(length) : b.bulkIn(length);
      }, true),
    transferOut: (endpointNumber: number, data: ArrayBuffer | ArrayBufferView) =>
      state.run(() => {
        claimedEndpoint(b, 'out', endpointNumber);
        return b.bulkOut(toBytes(data));
      }, true),
    isochronousTransferIn: noIsochronous,
    isochronousTransferOut: noIsochronous,
    reset: () =>
      state.run(() => {
        state.assertOpen();
        b.reset();
      }),
  };
}
