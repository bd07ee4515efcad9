/**
 * The shape of one catalog entry as stored (catalog/*.json): apart from types.ts so that the
 * catalog can name it without importing what is derived from the catalog (`ProblemId`).
 */

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
