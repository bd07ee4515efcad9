/**
 * @cardlend/ccid core: USB CCID (rev 1.1) and ISO/IEC 7816-3 without I/O. Bytes and events in,
 * values and actions out; the WebUSB adapter lives in "@cardlend/ccid/webusb".
 */
export { CcidError, isCcidError, CCID_ERROR_CATALOG } from './errors.ts';
export type { CcidErrorCode, CcidErrorOptions } from './errors.ts';
export {
  PC_to_RDR,
  RDR_to_PC,
  RDR_to_PC_Interrupt,
  CcidRequest,
  CcidFeature,
  CcidBError,
  IccStatus,
  CommandStatus,
  CCID_HEADER_BYTES,
  CCID_CLASS_DESCRIPTOR_BYTES,
  USB_CLASS_SMART_CARD,
  USB_CLASS_VENDOR,
} from './constants.ts';
export type { PcToRdrType, RdrToPcType } from './constants.ts';
export { toHex, fromHex, concatBytes } from './bytes.ts';
export {
  parseCcidClassDescriptor,
  encodeCcidClassDescriptor,
  parseConfigurationDescriptor,
  describeCcidInterface,
  exchangeLevelOf,
  effectiveIfsd,
  maxXfrBlockDataBytes,
  SCM_BOGUS_MAX_MESSAGE_LENGTH,
  SCM_REAL_MAX_MESSAGE_LENGTH,
} from './descriptors.ts';
export type {
  CcidClassDescriptor,
  UsbEndpointDescriptor,
  UsbInterfaceDescriptor,
  UsbConfigurationDescriptor,
  ExchangeLevel,
  CcidInterfaceInfo,
  XfrPayloadKind,
} from './descriptors.ts';
export {
  encodeCommand,
  decodeCommand,
  decodeResponse,
  encodeResponse,
  peekHeader,
  isResponseType,
  responseTypeFor,
  decodeInterrupt,
  encodeNotifySlotChange,
  CcidMessageAssembler,
} from './messages.ts';
export type {
  CcidCommand,
  CcidCommandType,
  CcidResponse,
  CcidResponseType,
  CcidInterruptMessage,
  CcidMessageAssemblerOptions,
} from './messages.ts';
export { parseAtr, FI_TABLE, DI_TABLE, FMAX_KHZ_TABLE, ATR_MAX_BYTES } from './atr.ts';
export type { ParsedAtr, AtrGroup, AtrT1Parameters } from './atr.ts';
export { buildPps, parsePps, verifyPpsResponse } from './pps.ts';
export type { Pps } from './pps.ts';
export { planProtocol, bitRateBps } from './protocol-plan.ts';
export type { ProtocolPlan, PlanProtocolOptions } from './protocol-plan.ts';
export { parseApdu, encodeApdu } from './apdu.ts';
export type { ParsedApdu } from './apdu.ts';
export { T0Exchange } from './t0.ts';
export type { T0Action, T0ExchangeOptions } from './t0.ts';
export { T1Session } from './t1.ts';
export { T1Pcb, buildT1Block, decodeT1Block, lrc, crc16, t1Edc } from './t1-block.ts';
export type { T1Action, T1SessionOptions } from './t1.ts';
export type { T1Block, T1CrcVariant } from './t1-block.ts';
export type { ReaderEvent } from './reader-event.ts';
export { BulkInFramer } from './bulk-in-framer.ts';
export type {
  BulkInFramerOptions,
  BulkInFrame,
  BulkInDrop,
  BulkInDropReason,
} from './bulk-in-framer.ts';
export { CcidReceiver } from './receiver.ts';
export {
  slotStatusOf,
  cardAbsentError,
  xfrBlockError,
  t1BlockResult,
  t1BlockXfr,
  assertXfrBlockFits,
  isTerminalError,
} from './reader-errors.ts';
export type { SlotStatus, T1BlockResult } from './reader-errors.ts';
export { voltageSequence, PowerOnSequence } from './power-on.ts';
export type { PowerSelect, PowerOnStep, PowerOnSequenceOptions } from './power-on.ts';
export { PowerUp } from './power-up.ts';
export type { PowerUpAction, PowerUpCommand, PowerUpOptions, PoweredCard } from './power-up.ts';
export { ExtendedApduExchange, LevelParameter } from './extended-apdu.ts';
export type { ExtendedApduStep, ExtendedApduExchangeOptions } from './extended-apdu.ts';
export { SlotPresence } from './slot-presence.ts';
export type { PresenceUpdate } from './slot-presence.ts';
export type { CcidReceiverOptions, CcidReceiverEvent } from './receiver.ts';
