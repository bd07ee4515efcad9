/**
 * @cardlend/pcsc: readers of the operating system's smart-card stack (PC/SC: pcsc-lite,
 * WinSCard, macOS) as bridge readers. Node only. See README.md. Everything these modules
 * export is public.
 */
// listReaders, openReader and their options.
export * from './readers.ts';
// PcscReader, the bridge's reader interface over one PC/SC reader.
export * from './pcsc-reader.ts';
// PcscContext, one self-healing PC/SC context, its events and timers.
export * from './context.ts';
// PcscError, the PC/SC codes and their mapping to the reader vocabulary (CCID_*).
export * from './errors.ts';
// The binding's contract (PcscBinding and its parts, SCARD_STATE and its readers).
export * from './binding.ts';
// The default binding, on pcsc-mini.
export * from './pcsc-mini-binding.ts';
export { fromMiniError } from './pcsc-mini-errors.ts';
