/**
 * From a failure to the words a person reads: which problem it is, the reference code for
 * the helpdesk, and the catalog entry filled in for one client and one operating system.
 * Pure: no DOM, no I/O; the caller passes the OS it detected.
 */
import { PROBLEMS, type ProblemId } from './catalog/index.ts';
import type { Failure, FailureKind } from './failure.ts';
import { CCID_PROBLEMS } from './sources/ccid.ts';
import { HELPER_PROBLEMS } from './sources/helper.ts';
import { PAGE_CONDITIONS } from './sources/page.ts';
import { PCSC_PROBLEMS, pcscCodeName } from './sources/pcsc.ts';
import { problemForBridgeCode } from './sources/bridge.ts';
import { problemForClose } from './sources/relay-close.ts';
import { VSCARD_PROBLEMS } from './sources/vscard.ts';
import type { Client, Explanation, Fix, FixEntry, OsFamily } from './types.ts';

/** Which problem a failure is, what to show as its reference, and values for placeholders. */
export interface ProblemMatch {
  id: ProblemId;
  /** The kind of source the failure came from (picks `bySource` words); absent = the entry's own. */
  kind?: FailureKind;
  /** The failure's source code as shown to the helpdesk. */
  reference: string;
  /** Placeholder values from the failure's details. */
  params: Readonly<Record<string, string>>;
}

const hex4 = (n: number): string => n.toString(16).padStart(4, '0');

function lookup<T extends string>(table: Readonly<Record<string, T>>, code: string): T | null {
  return Object.hasOwn(table, code) ? (table[code] ?? null) : null;
}

function usbParams(f: { vendorId?: number; productId?: number }): Record<string, string> {
  return f.vendorId !== undefined && f.productId !== undefined
    ? { vendorId: hex4(f.vendorId), productId: hex4(f.productId) }
    : {};
}

/** The problem a failure is. Unknown codes fall back per family (`reader-error` for reader codes). */
export function matchFailure(f: Failure): ProblemMatch {
  return { ...matchSource(f), kind: f.kind };
}

function matchSource(f: Failure): Omit<ProblemMatch, 'kind'> {
  switch (f.kind) {
    case 'ccid':
      return {
        id: lookup(CCID_PROBLEMS, f.code) ?? 'reader-error',
        reference: f.code,
        params: usbParams(f),
      };
    case 'relay-close':
      return { id: problemForClose(f.code), reference: `relay close ${f.code}`, params: {} };
    case 'vscard':
      return {
        id: lookup(VSCARD_PROBLEMS, f.code) ?? 'relay-protocol',
        reference: f.code,
        params: {},
      };
    case 'pcsc': {
      const name = pcscCodeName(f.code);
      const reference =
        name ?? (typeof f.code === 'number' ? `PC/SC 0x${(f.code >>> 0).toString(16)}` : f.code);
      return { id: name === null ? 'reader-error' : PCSC_PROBLEMS[name][1], reference, params: {} };
    }
    case 'helper':
      return { id: HELPER_PROBLEMS[f.code] ?? 'helper-failed', reference: f.code, params: {} };
    case 'bridge':
      return { id: problemForBridgeCode(f.code) ?? 'unexpected', reference: f.code, params: {} };
    case 'page': {
      const params: Record<string, string> = {};
      if (f.reason !== undefined) params['reason'] = f.reason;
      if (f.expiredAt !== undefined) params['expiredAt'] = f.expiredAt;
      const own = PAGE_CONDITIONS[f.code];
      const reference = f.closeCode === undefined ? own : `relay close ${f.closeCode} · ${own}`;
      return { id: f.code, reference, params };
    }
    case 'unknown':
      return { id: 'unexpected', reference: f.code ?? 'unexpected', params: {} };
  }
}

const PLACEHOLDER = /\{\{(\w+)\}\}/g;

function fill(text: string, values: Readonly<Record<string, string>>): string {
  return text.replace(PLACEHOLDER, (whole, name: string) => values[name] ?? whole);
}

function toFix(entry: FixEntry, values: Readonly<Record<string, string>>): Fix {
  const fix: Fix = { text: fill(entry.text, values) };
  if (entry.command !== undefined) fix.command = fill(entry.command, values);
  if (entry.os !== undefined) fix.os = entry.os;
  return fix;
}

/** Options of {@link explain} and {@link renderProblem}. */
export interface ExplainOptions {
  /** The person's operating system; default `other` (every system's steps, none folded). */
  os?: OsFamily;
  /** Who shows the text; default `page`. Steps for the other client are left out. */
  client?: Client;
}

/**
 * A catalog entry for one client and OS. Steps for `os` come first, then steps for everyone;
 * steps for other systems are kept apart (shown folded). With the OS unknown, every OS-specific
 * step follows the general ones.
 */
export function renderProblem(
  match: ProblemMatch,
  { os = 'other', client = 'page' }: ExplainOptions = {},
): Explanation {
  const entry = PROBLEMS[match.id];
  const variant = match.kind === undefined ? undefined : entry.bySource?.[match.kind];
  const values: Record<string, string> = { ...entry.defaults, ...match.params };
  const fixes = entry.fixes
    .filter((fix) => fix.client === undefined || fix.client === client)
    .map((fix) => toFix(fix, values));
  const isKnownOs = os === 'linux' || os === 'windows' || os === 'macos';
  const mine = fixes.filter((fix) => fix.os === os);
  const general = fixes.filter((fix) => fix.os === undefined);
  const others = fixes.filter((fix) => fix.os !== undefined && fix.os !== os);
  return {
    id: match.id,
    severity: entry.severity,
    title: variant?.title ?? entry.title,
    cause: fill(variant?.cause ?? entry.cause, values),
    fixes: isKnownOs ? [...mine, ...general] : [...general, ...others],
    otherSystemFixes: isKnownOs ? others : [],
    reference: match.reference,
  };
}

/** Explain a failure: its problem's words for one client and OS, with the failure's own reference code. */
export function explain(failure: Failure, options: ExplainOptions = {}): Explanation {
  return renderProblem(matchFailure(failure), options);
}
