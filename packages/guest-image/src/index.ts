export { buildGuest, defaultCacheDir, GUEST_PACKAGES } from './build-guest.ts';
export type { BuildGuestOptions, GuestImage } from './build-guest.ts';
export {
  bootGuest,
  startGuest,
  freePort,
  kernelCommandLine,
  qemuArguments,
  GuestScenario,
} from './boot-guest.ts';
export type { BootGuestOptions, GuestHandle, GuestRunResult, TimelineEntry } from './boot-guest.ts';
export { parseMarkerLine, MarkerKind, hexToBytes, bytesToHex } from './markers.ts';
export type { GuestMarker } from './markers.ts';
export { waitForResult } from './guest-results.ts';
export type { WaitForResultOptions } from './guest-results.ts';
export { startDirectCard } from './direct-card.ts';
export type { DirectCard, DirectCardOptions, DirectCardExchange } from './direct-card.ts';
export {
  createTestCard,
  testPattern,
  TEST_CARD_ATR,
  TEST_CARD_AID,
  TestCardIns,
} from './test-card.ts';
export type { SimpleCard } from './test-card.ts';
export { GetResponseSplitter } from './get-response.ts';
export type { GetResponseSplitterOptions } from './get-response.ts';
export { GUEST_PKCS11_MODULE } from './init-script.ts';
export { GuestImageError, isGuestImageError, GuestImageErrorCode } from './errors.ts';
export { benchResult } from './bench-result.ts';
export type { GuestBenchResult } from './bench-result.ts';
