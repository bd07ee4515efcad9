/** @cardlend/ccid/webusb: the CCID driver over a W3C WebUSB `USBDevice` (browser, card-sim, node-usb). */
export { openReader } from './open-reader.ts';
export { CcidReader } from './reader.ts';
export type { OpenReaderOptions, PowerOnResult, ReaderEvent } from './reader.ts';
export { inspectDevice, readConfigurationDescriptor } from './descriptors.ts';
export type { ReaderInfo } from './descriptors.ts';
export { CCID_USB_FILTERS, requestCcidDevice } from './filters.ts';
export type { CcidLogEntry } from './transport.ts';
export { CcidError, isCcidError, CCID_ERROR_CATALOG } from '../core/index.ts';
export type { CcidErrorCode, CcidInterfaceInfo, ParsedAtr, ExchangeLevel } from '../core/index.ts';
