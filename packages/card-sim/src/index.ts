/**
 * @cardlend/card-sim — a simulated USB CCID reader (W3C WebUSB `USBDevice`) with virtual smart
 * cards, for driver tests, the web app's demo mode and Playwright. Independent of @cardlend/ccid.
 *
 * Reader profiles (`readerProfiles` keys, values from shared/data/ccid-readers dumps):
 * `tpduT0` (GemPC Twin), `tpduT1NoAuto` (ACS ACR38U), `shortApdu` (Alcor AU9520),
 * `extendedApdu` (Cherry SmartTerminal XX44), `packet16` (Alcor Link AK9563, 16-byte packets),
 * `noInterrupt` (Rutoken ECP), `multiSlot` (ACS ACR33U, 5 slots), `vendorClass` (SCM SCR331-DI,
 * class 0xFF, 2 slots), `vendorClassAfterEndpoints` (Reiner SCT cyberJack, class 0xFF, CCID
 * descriptor after the endpoints), `multiSlotConcurrent` (sysmoOCTSIM, 8 slots, 8 busy slots).
 *
 * Card factories: `createT0Card()`, `createT1Card()` (loopback applet `loopbackAnswer` by default),
 * `createPivDemoCard()` (PIV application recognised by OpenSC).
 *
 * Browser/USB: `new SimulatedReader({ profile })`, `createFakeUsb()`, and `createDemoEnvironment()`
 * (vendor-class reader + PIV demo card + fake `navigator.usb`, for demo mode and Playwright).
 */
export { buildCommandApdu, parseCommandApdu, type CommandApdu } from './apdu.ts';
export { buildAtr, parseSimAtr, type BuildAtrOptions, type SimAtrInfo } from './atr.ts';
export { bytesToHex, concatBytes, hexToBytes } from './bytes.ts';
export { CCID_ERROR, PC_to_RDR, RDR_to_PC, RDR_to_PC_Interrupt } from './ccid-constants.ts';
export type { SlotSnapshot } from './ccid-firmware.ts';
export {
  createDemoEnvironment,
  type DemoEnvironment,
  type DemoEnvironmentOptions,
} from './demo.ts';
export {
  buildCcidClassDescriptor,
  buildConfigurationDescriptor,
  buildDeviceDescriptor,
  ENDPOINT,
} from './descriptors.ts';
export { CHROME_USB_MESSAGES } from './dom-exception.ts';
export { CardSimError, isCardSimError, type CardSimErrorCode } from './errors.ts';
export {
  createFakeUsb,
  matchesFilter,
  type FakeUsb,
  type FakeUsbConnectionEvent,
  type FakeUsbOptions,
} from './fake-usb.ts';
export { FaultInjector, type FaultName, type FaultPlan, type FaultRule } from './faults.ts';
export {
  CCID_FEATURE,
  exchangeLevelOf,
  readerProfiles,
  type ExchangeLevel,
  type ReaderProfile,
  type ReaderProfileId,
} from './profiles.ts';
export {
  generatePivCredentials,
  getDefaultPivCredentials,
  type GeneratePivCredentialsOptions,
  type PivCredentials,
} from './piv/credentials.ts';
export {
  createPivDemoCard,
  PIV_AID,
  PIV_OBJECT,
  PIV_SW,
  type PivDemoCard,
  type PivDemoCardOptions,
} from './piv/piv-card.ts';
export { createRng, type Rng } from './rng.ts';
export {
  SimulatedReader,
  type HeldBy,
  type ReaderStats,
  type SimInTransferResult,
  type SimOutTransferResult,
  type SimulatedReaderOptions,
} from './simulated-reader.ts';
export { crc16, lrc, type EdcKind, type T1CardState } from './t1-card.ts';
export {
  createT0Card,
  createT1Card,
  loopbackAnswer,
  respond,
  type T1CardOptions,
  type TestCardOptions,
  type VirtualCard,
} from './virtual-card.ts';
