export { startQemu, qemuArgs, QEMU_DEVICE_IDS, QEMU_TLS_CREDS_ID } from './qemu.ts';
export type {
  QemuHandle,
  QemuVersion,
  QemuGuest,
  StartQemuOptions,
  QemuDialInTls,
} from './qemu.ts';
export {
  ensureQemu10,
  qemu10Layout,
  defaultQemu10CacheDir,
  findDebianMirror,
  QEMU10_PACKAGES,
} from './qemu10.ts';
export type { Qemu10Install, EnsureQemu10Options } from './qemu10.ts';
export {
  RawVscardClient,
  rawMessage,
  hex,
  toHex,
  RAW_VSC,
  RAW_INIT_PAYLOAD,
} from './raw-client.ts';
export type { RawMessage } from './raw-client.ts';
export { findFreePort } from './free-port.ts';
export { findRepoRoot, SYSTEM_QEMU_BINARY } from './paths.ts';
export { TestbedError, isTestbedError } from './errors.ts';
export type { TestbedErrorCode } from './errors.ts';
export { setLoopbackQuickAck } from './loopback-quickack.ts';
