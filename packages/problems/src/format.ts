/**
 * An explanation as plain text, for a terminal or a log: title, cause, numbered steps (the
 * person's OS first), steps for other systems, and the reference. No colours, no width logic.
 */
import type { Explanation, Fix } from './types.ts';

const OS_LABEL = { linux: 'Linux', windows: 'Windows', macos: 'macOS' } as const;

function fixLines(fix: Fix, n: number): string[] {
  const label = fix.os === undefined ? '' : `[${OS_LABEL[fix.os]}] `;
  const lines = [`  ${n}. ${label}${fix.text}`];
  if (fix.command !== undefined) lines.push(`       ${fix.command}`);
  return lines;
}

/** The explanation as lines of text (no trailing newline). */
export function formatExplanation(e: Explanation): string {
  const lines = [e.title, e.cause, '', 'What you can do:'];
  e.fixes.forEach((fix, i) => lines.push(...fixLines(fix, i + 1)));
  if (e.otherSystemFixes.length > 0) {
    lines.push('Steps for other systems:');
    e.otherSystemFixes.forEach((fix, i) => lines.push(...fixLines(fix, e.fixes.length + i + 1)));
  }
  lines.push('', `Reference for your helpdesk: ${e.reference}`);
  return lines.join('\n');
}
