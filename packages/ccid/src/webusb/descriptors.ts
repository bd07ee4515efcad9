import type { CcidInterfaceInfo, UsbConfigurationDescriptor } from '../core/index.ts';
import { CcidError, describeCcidInterface, parseConfigurationDescriptor } from '../core/index.ts';
import { isDisconnectError } from './platform-errors.ts';

/** Identity and CCID interfaces of a device. */
export interface ReaderInfo {
  vendorId: number;
  productId: number;
  productName: string;
  manufacturerName: string;
  serialNumber: string;
  interfaces: CcidInterfaceInfo[];
  /** True when the interface the driver would use has class 0x0B, which Chrome refuses to claim (ccid.md §1). */
  isProtectedClass: boolean;
}

/**
 * Reads configuration descriptor `configIndex` with GET_DESCRIPTOR (USB 2.0 §9.4.3): 9 bytes for
 * wTotalLength, then the whole thing. WebUSB does not expose class descriptors (ccid.md §1).
 * The device must be open. Throws CcidError CCID_READER_GONE / CCID_BAD_DESCRIPTOR / CCID_TRANSFER_FAILED.
 */
export async function readConfigurationDescriptor(
  device: USBDevice,
  configIndex = 0,
): Promise<UsbConfigurationDescriptor> {
  const get = async (length: number): Promise<Uint8Array> => {
    let r: USBInTransferResult;
    try {
      r = await device.controlTransferIn(
        {
          requestType: 'standard',
          recipient: 'device',
          request: 0x06,
          value: (0x02 << 8) | configIndex,
          index: 0,
        },
        length,
      );
    } catch (e) {
      if (isDisconnectError(e))
        throw new CcidError('CCID_READER_GONE', 'the reader was disconnected', { cause: e });
      throw new CcidError('CCID_TRANSFER_FAILED', 'GET_DESCRIPTOR(configuration) failed', {
        cause: e,
      });
    }
    if (r.status !== 'ok' || !r.data)
      throw new CcidError('CCID_TRANSFER_FAILED', `GET_DESCRIPTOR(configuration): ${r.status}`);
    return new Uint8Array(
      r.data.buffer.slice(r.data.byteOffset, r.data.byteOffset + r.data.byteLength),
    );
  };
  const head = await get(9);
  if (head.length < 4)
    throw new CcidError('CCID_BAD_DESCRIPTOR', 'configuration descriptor header truncated');
  const total = (head[2] ?? 0) | ((head[3] ?? 0) << 8);
  const full = total <= head.length ? head : await get(total);
  return parseConfigurationDescriptor(full);
}

/** CCID interfaces of a parsed configuration (first alternate setting of each interface). */
export function ccidInterfacesOf(cfg: UsbConfigurationDescriptor): CcidInterfaceInfo[] {
  const out: CcidInterfaceInfo[] = [];
  for (const iface of cfg.interfaces) {
    if (out.some((o) => o.interfaceNumber === iface.interfaceNumber)) continue;
    const info = describeCcidInterface(iface);
    if (info) out.push(info);
  }
  return out;
}

/** The interface the driver drives: the requested one, else the first bulk CCID interface. */
export function pickInterface(
  interfaces: CcidInterfaceInfo[],
  interfaceNumber?: number,
): CcidInterfaceInfo | undefined {
  if (interfaceNumber !== undefined)
    return interfaces.find((i) => i.interfaceNumber === interfaceNumber);
  return interfaces.find((i) => !i.isIccdControl && i.bulkIn && i.bulkOut) ?? interfaces[0];
}

/** Opens the device if needed; returns whether this call opened it. */
export async function ensureOpen(device: USBDevice): Promise<boolean> {
  if (device.opened) return false;
  try {
    await device.open();
  } catch (e) {
    if (isDisconnectError(e))
      throw new CcidError('CCID_READER_GONE', 'the reader was disconnected', { cause: e });
    throw new CcidError(
      'CCID_DEVICE_BUSY',
      'cannot open the reader: another program or the OS driver holds it',
      { cause: e },
    );
  }
  return true;
}

/**
 * Reads the identity and CCID interfaces of a device without claiming anything. Opens the device
 * if it is closed and closes it again afterwards.
 */
export async function inspectDevice(device: USBDevice): Promise<ReaderInfo> {
  const didOpen = await ensureOpen(device);
  try {
    const cfg = await readConfigurationDescriptor(device, 0);
    return readerInfoOf(device, ccidInterfacesOf(cfg));
  } finally {
    if (didOpen) await device.close().catch(() => undefined);
  }
}

export function readerInfoOf(
  device: USBDevice,
  interfaces: CcidInterfaceInfo[],
  chosen?: CcidInterfaceInfo,
): ReaderInfo {
  const used = chosen ?? pickInterface(interfaces);
  return {
    vendorId: device.vendorId,
    productId: device.productId,
    productName: device.productName ?? '',
    manufacturerName: device.manufacturerName ?? '',
    serialNumber: device.serialNumber ?? '',
    interfaces,
    isProtectedClass: used?.interfaceClass === 0x0b,
  };
}
