/**
 * The catalog: every problem a person lending a card can meet, keyed by problem id. Data
 * only; `explain` (../explain.ts) picks the entry for a failure and fills it in.
 */
import type { ProblemEntry } from '../types.ts';
import { BROWSER_PROBLEMS } from './browser.ts';
import { READER_PROBLEMS } from './reader.ts';
import { RELAY_PROBLEMS } from './relay.ts';
import { TOKEN_PROBLEMS } from './token.ts';

const ALL = {
  ...BROWSER_PROBLEMS,
  ...READER_PROBLEMS,
  ...RELAY_PROBLEMS,
  ...TOKEN_PROBLEMS,
} as const;

/** A problem id: what went wrong from the person's point of view (many source codes share one). */
export type ProblemId = keyof typeof ALL;

/** Every problem, by id. */
export const PROBLEMS: Readonly<Record<ProblemId, ProblemEntry>> = ALL;

/** Every problem id, in catalog order. */
export const PROBLEM_IDS = Object.keys(PROBLEMS) as ProblemId[];
