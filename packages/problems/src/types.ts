/**
 * The shapes of the catalog (what is stored) and of an explanation (what a client shows).
 * Texts are plain English sentences; `{{name}}` in a text is a placeholder filled from the
 * failure's details (see `ProblemEntry.defaults`).
 */
import type { ProblemId } from './catalog/index.ts';
import type { FixOs, Severity } from './entry.ts';

/** Operating system families the fixes are written for. */
export type OsFamily = 'linux' | 'windows' | 'macos' | 'chromeos' | 'other';

export type { Client, FixEntry, FixOs, ProblemEntry, Severity, SourceKind } from './entry.ts';
/** One step as shown. */
export interface Fix {
  text: string;
  command?: string;
  /** Operating system this step is for; absent = everyone. */
  os?: FixOs;
}

/** A problem explained for one client and one OS. */
export interface Explanation {
  id: ProblemId;
  severity: Severity;
  title: string;
  cause: string;
  /** Steps to show, in order: for a known OS its own steps then everyone's; else everyone's then every system's. */
  fixes: readonly Fix[];
  /** Steps for other operating systems (shown folded); empty when the OS is unknown. */
  otherSystemFixes: readonly Fix[];
  /** The failure's source code for the helpdesk (e.g. `CCID_DEVICE_BUSY`, `relay close 4009`, `SCARD_E_NO_SERVICE`), never a message. */
  reference: string;
}
