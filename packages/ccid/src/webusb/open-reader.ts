import type { CcidInterfaceInfo } from '../core/index.ts';
import { CcidError } from '../core/index.ts';
import {
  ccidInterfacesOf,
  ensureOpen,
  pickInterface,
  readConfigurationDescriptor,
  readerInfoOf,
} from './descriptors.ts';
import { isDisconnectError } from './platform-errors.ts';
import type { OpenReaderOptions } from './reader.ts';
import { CcidReader } from './reader.ts';

/**
 * Opens a CCID reader over a W3C WebUSB `USBDevice` (browser, card-sim, or node-usb's WebUSB).
 * Throws CcidError: CCID_PROTECTED_CLASS (class 0x0B while the context blocks it; nothing claimed),
 * CCID_DEVICE_BUSY (open/claim failed, cause attached), CCID_NOT_CCID, CCID_READER_GONE,
 * CCID_UNSUPPORTED (ICCD over control transfers).
 */
export async function openReader(
  device: USBDevice,
  opts: OpenReaderOptions = {},
): Promise<CcidReader> {
  const didOpen = await ensureOpen(device);
  let reader: CcidReader;
  try {
    const cfg = await readConfigurationDescriptor(device, 0);
    const interfaces = ccidInterfacesOf(cfg);
    const chosen = chooseInterface(interfaces, opts);
    await claim(device, chosen, cfg.configurationValue);
    const info = readerInfoOf(device, interfaces, chosen);
    reader = new CcidReader({ device, info, interfaceInfo: chosen, options: opts });
  } catch (e) {
    if (didOpen) await device.close().catch(() => undefined);
    throw e;
  }
  try {
    await reader.init();
  } catch (e) {
    await reader.close(); // init fails only when the reader is gone
    throw e;
  }
  return reader;
}

/** The interface to drive, or the CcidError saying why there is none we can use. */
function chooseInterface(
  interfaces: CcidInterfaceInfo[],
  opts: OpenReaderOptions,
): CcidInterfaceInfo {
  const chosen = pickInterface(interfaces, opts.interfaceNumber);
  if (!chosen)
    throw new CcidError(
      'CCID_NOT_CCID',
      opts.interfaceNumber === undefined
        ? 'no CCID interface on this device'
        : `interface ${opts.interfaceNumber} is not a CCID interface`,
    );
  if (chosen.isIccdControl || !chosen.bulkIn || !chosen.bulkOut)
    throw new CcidError('CCID_UNSUPPORTED', 'ICCD over control transfers is not supported');
  if (chosen.interfaceClass === 0x0b && (opts.isBrowserBlockingProtectedClasses ?? true))
    throw new CcidError(
      'CCID_PROTECTED_CLASS',
      'this reader uses the protected smart-card interface class 0x0B, which the browser does not let web pages claim',
    );
  return chosen;
}

/** Selects the configuration and claims the interface; maps the platform's refusal (ccid.md §1). */
async function claim(
  device: USBDevice,
  chosen: CcidInterfaceInfo,
  configurationValue: number,
): Promise<void> {
  try {
    if (device.configuration === null || device.configuration === undefined)
      await device.selectConfiguration(configurationValue);
    await device.claimInterface(chosen.interfaceNumber);
    if (chosen.alternateSetting !== 0)
      await device.selectAlternateInterface(chosen.interfaceNumber, chosen.alternateSetting);
  } catch (e) {
    if (isDisconnectError(e))
      throw new CcidError('CCID_READER_GONE', 'the reader was disconnected', { cause: e });
    if ((e as { name?: unknown }).name === 'SecurityError' && chosen.interfaceClass === 0x0b)
      throw new CcidError(
        'CCID_PROTECTED_CLASS',
        'the browser refused to claim the protected smart-card interface',
        { cause: e },
      );
    throw new CcidError(
      'CCID_DEVICE_BUSY',
      'cannot claim the reader interface: another program or the OS driver holds it',
      { cause: e },
    );
  }
}
