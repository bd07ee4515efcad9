export { RelaySession, clampReason } from './relay.ts';
export type {
  RelaySessionOptions,
  SessionEnd,
  SessionEndReason,
  SessionEvent,
  SessionPhase,
  SessionStats,
  SessionObserver,
} from './relay.ts';
export { startRelayServer, MAX_FRAME_BYTES } from './server.ts';
export type { RelayServer, RelayServerOptions, ServerEvent } from './server.ts';
export {
  parseArgs,
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
export type { RelayConfig, HostPort, ParsedArgs, VmCertId, VmTlsConfig } from './config.ts';
export { parseVmCertId } from './config.ts';
export { DialInPort, DialInSlot } from './dial-in.ts';
export type { DialInEvent, DialInConnection } from './dial-in.ts';
export { DialInTlsListener } from './dial-in-tls.ts';
export type { DialInTlsEvent } from './dial-in-tls.ts';
export { relayBanner } from './banner.ts';
export { createStaticHandler, resolveUnderRoot, MIME_TYPES, notBuiltPage } from './static-files.ts';
export { RelayError, isRelayError } from './errors.ts';
export type { RelayErrorCode } from './errors.ts';
