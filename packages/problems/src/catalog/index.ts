/**
 * The catalog: every problem a person lending a card can meet, keyed by problem id, as data in
 * JSON files (one per area) so that texts are edited, reviewed and translated apart from code:
 * - browser.json: what only a web page meets (WebUSB, permissions, the chooser, the form);
 * - reader.json: the reader, the card and the computer's smart card service (PC/SC);
 * - relay.json: the relay, the virtual machine, and the catch-all `unexpected`;
 * - token.json: the session link and its token;
 * - helper.json: the local helper (`cardlend serve`) and the browser's way to it.
 * The entries' shape is `ProblemEntry` (../types.ts); test/catalog.test.ts checks every entry
 * against it, so the data can be trusted here without a run-time parse.
 */
import type { ProblemEntry } from '../entry.ts';
import browser from './browser.json' with { type: 'json' };
import helper from './helper.json' with { type: 'json' };
import reader from './reader.json' with { type: 'json' };
import relay from './relay.json' with { type: 'json' };
import token from './token.json' with { type: 'json' };

const ALL = { ...browser, ...reader, ...relay, ...token, ...helper };

/** A problem id: what went wrong from the person's point of view (many source codes share one). */
export type ProblemId = keyof typeof ALL;

/** Every problem, by id. */
export const PROBLEMS = ALL as Readonly<Record<ProblemId, ProblemEntry>>;

/** Every problem id, in catalog order. */
export const PROBLEM_IDS = Object.keys(PROBLEMS) as ProblemId[];
