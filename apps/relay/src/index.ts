/**
 * @cardlend/relay as a library: what other packages' tests and benchmarks use to run a relay
 * in-process (start it from a configuration, mint session tokens). The command is src/main.ts.
 */
export { startRelayServer } from './server.ts';
export type { RelayServer, RelayServerOptions, ServerEvent } from './server.ts';
export { defaultConfig } from './config.ts';
export type { RelayConfig } from './config.ts';
export { mintToken } from './auth/tokens.ts';
export type { MintTokenOptions } from './auth/tokens.ts';
export type { SessionEnd } from './session/types.ts';
