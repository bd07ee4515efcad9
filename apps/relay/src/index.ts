export { RelaySession, clampReason, GUEST_ANSWER_GRACE_MS } from './session/relay-session.ts';
export type {
  RelaySessionOptions,
  SessionEnd,
  SessionEndReason,
  SessionEvent,
  SessionPhase,
  SessionStats,
  SessionObserver,
} from './session/types.ts';
export { FORWARD, refuseFrame } from './session/frame-policy.ts';
export type { FramePolicy, FrameVerdict, RelayFrame } from './session/frame-policy.ts';
export type { SessionTimers } from './session/timers.ts';
export { startRelayServer, MAX_FRAME_BYTES, MAX_FRAME_TO_BROWSER_BYTES } from './server.ts';
export type { RelayServer, RelayServerOptions, ServerEvent } from './server.ts';
export {
  parseArgs,
  parseCommandLine,
  loadConfig,
  parseHostPort,
  applyConfigFile,
  validateConfig,
  defaultConfig,
  defaultStaticDir,
  HELP_TEXT,
  DEFAULT_LISTEN,
  DEFAULT_TARGET,
  loadSecrets,
} from './config.ts';
export type {
  ConfigDraft,
  RelayConfig,
  HostPort,
  ParsedArgs,
  VmCertId,
  VmTlsConfig,
} from './config.ts';
export { parseVmCertId } from './config.ts';
export { mintToken } from './auth/tokens.ts';
export type { MintTokenOptions } from './auth/tokens.ts';
export { DialInPort, DialInSlot } from './dial-in.ts';
export type { DialInEvent, DialInConnection } from './dial-in.ts';
export { DialInTlsListener } from './dial-in-tls.ts';
export type { DialInTlsEvent } from './dial-in-tls.ts';
export { relayBanner } from './banner.ts';
export { createStaticHandler, resolveUnderRoot, MIME_TYPES, notBuiltPage } from './static-files.ts';
export { RelayError, isRelayError } from './errors.ts';
export type { RelayErrorCode } from './errors.ts';
