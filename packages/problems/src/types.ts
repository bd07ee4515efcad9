/**
 * The shapes of the catalog (what is stored) and of an explanation (what a client shows).
 * Texts are plain English sentences; `{{name}}` in a text is a placeholder filled from the
 * failure's details (see `ProblemEntry.defaults`).
 */
import type { ProblemId } from './catalog/index.ts';

/** Operating system families the fixes are written for. */
export type OsFamily = 'linux' | 'windows' | 'macos' | 'chromeos' | 'other';

/** The systems a fix can be specific to. */
export type FixOs = 'linux' | 'windows' | 'macos';

/** Who shows the text: the web page, or the `cardlend` command line. */
export type Client = 'page' | 'cli';

/** `info` for things the person did on purpose (closing the chooser) or normal ends. */
export type Severity = 'error' | 'info';

/** One step as stored in the catalog. */
export interface FixEntry {
  /** One step, in plain words; may hold `{{placeholders}}`. */
  readonly text: string;
  /** A command to copy, if the step is "run this"; may hold `{{placeholders}}`. */
  readonly command?: string;
  /** Operating system this step is for; absent = every system. */
  readonly os?: FixOs;
  /** Client this step is for (it names that client's buttons or options); absent = both. */
  readonly client?: Client;
}

/** One problem as stored in the catalog: the words, the same for every failure that leads to it. */
export interface ProblemEntry {
  readonly severity: Severity;
  /** Short headline. */
  readonly title: string;
  /** What happened and what it means, one or two sentences; may hold `{{placeholders}}`. */
  readonly cause: string;
  /** What to do, most likely first (numbered in that order when shown). */
  readonly fixes: readonly FixEntry[];
  /** Values for the placeholders a failure does not supply. Every placeholder used needs one. */
  readonly defaults?: Readonly<Record<string, string>>;
  /** Another title or cause when the failure came from this kind of source (e.g. a relay close). */
  readonly bySource?: Readonly<
    Partial<Record<SourceKind, { readonly title?: string; readonly cause?: string }>>
  >;
}

/** The kinds of source a failure can come from (`Failure['kind']`). */
export type SourceKind =
  'ccid' | 'relay-close' | 'vscard' | 'pcsc' | 'helper' | 'bridge' | 'page' | 'unknown';

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
