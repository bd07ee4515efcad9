/**
 * The `source` of an `error` message (messages.ts `ErrorSource`): the PC/SC code below a
 * reader failure. The page takes it only in exactly the known shape; anything else a helper
 * sends there is dropped (never a reason to refuse the whole answer), so a hostile or newer
 * helper cannot put its own text where the page looks up its words.
 */
import type { ErrorSource } from './messages.ts';

/** A PC/SC return code name: `SCARD_E_…`, `SCARD_W_…`, `SCARD_F_…`, or `SCARD_P_SHUTDOWN`. */
const PCSC_CODE_RE = /^SCARD_[EWF]_[A-Z_]{1,40}$/;

/** The one standard PC/SC code outside the E/W/F families (pcsc-lite and WinSCard). */
const PCSC_OTHER_CODES: ReadonlySet<string> = new Set(['SCARD_P_SHUTDOWN']);

/** Whether `code` has the form of a PC/SC return code name. */
export function isPcscCodeName(code: unknown): code is string {
  return typeof code === 'string' && (PCSC_CODE_RE.test(code) || PCSC_OTHER_CODES.has(code));
}

/**
 * The error source `value` stands for, or undefined when it is not exactly
 * `{ kind: 'pcsc', code: <PC/SC code name> }` (other kinds, extra fields, other codes).
 */
export function errorSourceOf(value: unknown): ErrorSource | undefined {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return undefined;
  const o = value as Record<string, unknown>;
  if (!Object.keys(o).every((k) => k === 'kind' || k === 'code')) return undefined;
  if (o['kind'] !== 'pcsc' || !isPcscCodeName(o['code'])) return undefined;
  return { kind: 'pcsc', code: o['code'] };
}
