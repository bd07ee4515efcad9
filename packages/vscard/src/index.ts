export * from './relay-close.ts';
export {
  VSC,
  VSC_DRAFT2010,
  VSC_ERROR_CODE,
  VSCARD_HEADER_BYTES,
  VSCARD_MAX_PAYLOAD_BYTES,
  VSCARD_MAX_GUEST_ANSWER_BYTES,
  VSCARD_MAX_GUEST_COMMAND_BYTES,
  VSC_MINIMAL_READER_ID,
  VSC_UNDEFINED_READER_ID,
  VSCARD_VERSION,
  VSCARD_DRAFT2010_VERSION,
  VSCARD_MAGIC,
  splitVersion,
} from './constants.ts';
export { VscardError, isVscardError } from './errors.ts';
export type { VscardErrorCode } from './errors.ts';
export {
  encodeMessage,
  decodeMessage,
  peekHeader,
  isKnownType,
  typeName,
  typeNumber,
  clientInit,
} from './codec.ts';
export type {
  VscardMessage,
  VscardMessageType,
  Dialect,
  ErrorCodeByteOrder,
  EncodeOptions,
  DecodeOptions,
  PeekResult,
} from './codec.ts';
export { VscardFramer, VscardDecoder } from './framer.ts';
export type { VscardFrame, FramerState, FramerOptions, DecoderOptions } from './framer.ts';
export { checkClientFrame, validateClientFrame, CLIENT_TO_HOST_TYPES } from './validate.ts';
export { parseAtr, qemu72AcceptsAtr, toQemuT0CompatibleAtr, QEMU_MAX_ATR_BYTES } from './atr.ts';
export type { ParsedAtr, AtrInterfaceLevel, QemuAtrVerdict } from './atr.ts';
export { VscardClientSession } from './session.ts';
export type {
  SessionAction,
  SessionEvent,
  SessionState,
  SessionOptions,
  ControlRequestKind,
  ApduAnswer,
} from './session.ts';
export {
  QemuInputBuffer,
  qemuReadsAllAtOnce,
  QEMU_VSCARD_IN_BYTES,
  QEMU_CHARDEV_READ_BYTES,
} from './qemu-input-model.ts';
export type { QemuInputMessage, QemuInputStatus, QemuInputRegisters } from './qemu-input-model.ts';
export { QemuPassthruModel, QEMU_MAX_PENDING_GUEST_COMMANDS } from './qemu-passthru-model.ts';
export type { GuestAnswer, QemuEffect, GuestCommandResult } from './qemu-passthru-model.ts';
export { ForwardGuard, GUARD_PROBE } from './forward-guard.ts';
export type {
  ForwardGuardOptions,
  ToVmDecision,
  FromVmDecision,
  GuardRule,
  GuardOrigin,
} from './forward-guard.ts';
export { NagleDetector, describeNagleReport } from './nagle-detector.ts';
export type { NagleDetectorOptions, NagleReport, NagleFinding } from './nagle-detector.ts';
// The browser ⇄ relay contract: subprotocols, resume offer and ticket (relay-contract.ts re-exports relay-resume.ts).
export * from './relay-contract.ts';
export {
  LongAnswerSplitter,
  getResponseNe,
  commandNe,
  DEFAULT_MAX_ANSWER_BYTES,
} from './long-answer.ts';
export type { LongAnswerSplitterOptions, SplitterDecision } from './long-answer.ts';
export { ChainCollector, MAX_CHAIN_LINKS } from './chain-collector.ts';
export { RelayAnswerSplitter } from './relay-answer-splitter.ts';
export type {
  BrowserAnswerDecision,
  GuestCommandDecision,
  RelayAnswerSplitterOptions,
  RelayAnswerSplitterStats,
} from './relay-answer-splitter.ts';
export { encodeRelayNotice, parseRelayNotice } from './relay-notice.ts';
export type { RelayNotice } from './relay-notice.ts';
