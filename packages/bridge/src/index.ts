/**
 * @cardlend/bridge: lends a card in a CCID reader to a VM over a VSCard WebSocket relay.
 * Runs in the browser and in Node (no DOM or Node imports).
 */
export { describeApdu, isSensitiveApdu } from './apdu-describe.ts';
export type { ApduDescription } from './apdu-describe.ts';
export { describeStatusWord, formatStatusWord } from './status-words.ts';
export { DEFAULT_MAX_ANSWER_BYTES, getResponseNe, LongAnswerSplitter } from './long-answer.ts';
export type { LongAnswerSplitterOptions, SplitterDecision } from './long-answer.ts';
export { backoffDelayMs, DEFAULT_RECONNECT_POLICY, resolveReconnectPolicy } from './backoff.ts';
export type { ReconnectPolicy } from './backoff.ts';
export {
  BRIDGE_ERRORS,
  BridgeError,
  bridgeErrorFromReader,
  CCID_TO_BRIDGE,
  classifyClose,
  isBridgeError,
  isReaderLost,
} from './errors.ts';
export type {
  BridgeErrorCode,
  BridgeErrorOptions,
  BridgeErrorSource,
  CloseClassification,
} from './errors.ts';
export { toExportableLog, toHex } from './apdu-log.ts';
export type { ApduAnswerSource, ApduLogEntry, ExportedApduLogEntry } from './apdu-log.ts';
export { CardBridge } from './card-bridge.ts';
export type {
  BridgeCardState,
  BridgeLogEvent,
  BridgeOptions,
  BridgeState,
  LinkState,
} from './card-bridge.ts';
export type {
  BridgeReader,
  BridgeReaderEvent,
  PoweredCard,
  ReaderErrorCode,
  SlotStatus,
} from './reader.ts';
export type { ResumeStatus } from './lending/resume.ts';
export { relayWebSocketUrl } from './platform.ts';
export type { BridgeTimers, BridgeWebSocket, CreateWebSocket } from './platform.ts';
