/**
 * @cardlend/pcsc: readers of the operating system's smart-card stack (PC/SC: pcsc-lite,
 * WinSCard, macOS) as bridge readers. Node only. See README.md.
 */
export { listReaders, openReader } from './readers.ts';
export type { CardPresence, OpenOptions, ReaderInfo } from './readers.ts';
export { PcscReader } from './pcsc-reader.ts';
export type { PcscReaderOptions } from './pcsc-reader.ts';
export { PcscContext } from './context.ts';
export type { PcscContextEvent, PcscContextOptions, PcscTimers } from './context.ts';
export {
  isPcscCode,
  isPcscError,
  isServiceLost,
  PCSC_CODES,
  PCSC_TO_CCID,
  PcscError,
  SERVICE_LOST_CODES,
} from './errors.ts';
export type { PcscCode, PcscErrorCode, PcscErrorOptions } from './errors.ts';
// The binding's contract (PcscBinding and its parts, SCARD_STATE and its readers): all public.
export * from './binding.ts';
export { fromMiniError, pcscMiniBinding } from './pcsc-mini-binding.ts';
