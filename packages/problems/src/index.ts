/**
 * @cardlend/problems: every problem a person lending a card can meet, as data keyed by problem
 * id, and the pure function from a failure (with the code it came with) to the words shown.
 * Used by the page and the `cardlend` command. No DOM, no Node.
 */
export { PROBLEMS, PROBLEM_IDS } from './catalog/index.ts';
export type { ProblemId } from './catalog/index.ts';
export { failureFromCode, failureFromState } from './failure.ts';
export type { Failure, FailureKind } from './failure.ts';
export { explain, matchFailure, renderProblem } from './explain.ts';
export type { ExplainOptions, ProblemMatch } from './explain.ts';
export { formatExplanation } from './format.ts';
export { osFamilyFromPlatform, osFamilyFromUserAgent } from './os.ts';
export { CCID_PROBLEMS } from './sources/ccid.ts';
export { BRIDGE_PROBLEMS } from './sources/bridge.ts';
export type { BridgeCodeName } from './sources/bridge.ts';
export { HELPER_PROBLEMS } from './sources/helper.ts';
export { PAGE_CONDITIONS } from './sources/page.ts';
export type { PageCondition } from './sources/page.ts';
export { PCSC_PROBLEMS, pcscCodeName } from './sources/pcsc.ts';
export type { PcscCodeName } from './sources/pcsc.ts';
export { RELAY_CLOSE_PROBLEMS, TRANSPORT_CLOSE_CODES } from './sources/relay-close.ts';
export { VSCARD_PROBLEMS } from './sources/vscard.ts';
export type {
  Client,
  Explanation,
  Fix,
  FixEntry,
  FixOs,
  OsFamily,
  ProblemEntry,
  Severity,
  SourceKind,
} from './types.ts';
