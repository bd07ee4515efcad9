/**
 * The words the CLI uses when lending is refused or fails: the catalog the page uses
 * (@cardlend/problems), rendered for the command line and the person's operating system.
 * Pure.
 */
import { explain, failureFromCode, failureFromState, formatExplanation } from '@cardlend/problems';
import type { Explanation, Failure, OsFamily } from '@cardlend/problems';

export type { Explanation as CliProblem } from '@cardlend/problems';

/** The explanation of a failure for the command line. */
export function explainForCli(failure: Failure, os: OsFamily): Explanation {
  return explain(failure, { os, client: 'cli' });
}

/** The explanation of a bridge state's error (and the relay's close code, when there was one). */
export function problemForState(
  error: { code: string; source?: Failure } | null,
  closeCode: number | undefined,
  os: OsFamily,
): Explanation {
  return explainForCli(failureFromState(error, closeCode), os);
}

/**
 * The failure for anything the reader service threw: a PcscError's PC/SC code
 * (`sourceCode`, e.g. `SCARD_E_NO_SERVICE`) when there is one, else its `code`.
 */
export function failureOfReaderError(e: unknown): Failure {
  const fields = typeof e === 'object' && e !== null ? (e as Record<string, unknown>) : {};
  if (typeof fields['sourceCode'] === 'string') return { kind: 'pcsc', code: fields['sourceCode'] };
  if (typeof fields['code'] === 'string') return failureFromCode(fields['code']);
  return { kind: 'unknown' };
}

/** Problem text for stderr. */
export function formatProblem(p: Explanation): string {
  return `cardlend: ${formatExplanation(p)}\n`;
}
