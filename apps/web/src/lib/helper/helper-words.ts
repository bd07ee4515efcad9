/**
 * The words the helper panel shows, from the one catalog (@cardlend/problems): the helper's
 * refusal codes (`kind: 'helper'`) and the page's own conditions about it (`helper-absent`,
 * `helper-blocked`).
 */
import { explain } from '@cardlend/problems';
import type { Explanation, OsFamily } from '@cardlend/problems';
import type { HelperErrorCode } from '@cardlend/helper-protocol';

/** The explanation of a helper refusal. */
export function explainHelperCode(code: HelperErrorCode, os: OsFamily): Explanation {
  return explain({ kind: 'helper', code }, { os, client: 'page' });
}

/** The explanation of no helper answering, or the browser blocking the way to it. */
export function explainHelperCondition(
  condition: 'helper-absent' | 'helper-blocked',
  os: OsFamily,
): Explanation {
  return explain({ kind: 'page', code: condition }, { os, client: 'page' });
}
