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
export { validateClientFrame, CLIENT_TO_HOST_TYPES } from './validate.ts';
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
