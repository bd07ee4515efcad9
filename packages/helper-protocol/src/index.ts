/**
 * @cardlend/helper-protocol: the versioned, APDU-level protocol between a page and the local
 * helper (`cardlend serve`) — messages, strict codec, limits, refusal codes, origins, and the
 * helper's per-connection gate. Pure: no I/O, no platform, time injected.
 */
export * from './codes.ts';
export * from './constants.ts';
export * from './codec.ts';
export * from './decode-helper.ts';
export * from './gate.ts';
export * from './hex.ts';
export type * from './messages.ts';
export * from './origin.ts';
export * from './rate.ts';
export * from './source.ts';
