/**
 * The words the CLI uses when lending is refused or fails: the same catalog as the page.
 * Pure.
 */
import { BRIDGE_ERRORS } from '@cardlend/bridge';
import type { BridgeErrorCode } from '@cardlend/bridge';

/** A problem as printed: headline, what happened, what to do, and a code for the helpdesk. */
export interface CliProblem {
  readonly title: string;
  readonly cause: string;
  readonly fixes: readonly string[];
  readonly reference: string;
}

/** The problem for a bridge error code (and the relay's close code, when there was one). */
export function problemForBridge(code: BridgeErrorCode, closeCode?: number): CliProblem {
  const known = BRIDGE_ERRORS[code];
  return {
    title: known.message,
    cause: known.message,
    fixes: [known.action],
    reference: closeCode === undefined ? code : `relay close ${closeCode}`,
  };
}

/** Problem text for stderr: headline, cause, numbered fixes, reference. */
export function formatProblem(p: CliProblem): string {
  const lines = [`cardlend: ${p.title}`];
  if (p.cause !== p.title) lines.push(`  ${p.cause}`);
  if (p.fixes.length === 1) lines.push(`  What to do: ${p.fixes[0]}`);
  else if (p.fixes.length > 1) {
    lines.push('  What to do:');
    p.fixes.forEach((f, i) => lines.push(`   ${i + 1}. ${f}`));
  }
  lines.push(`  (reference: ${p.reference})`);
  return `${lines.join('\n')}\n`;
}
