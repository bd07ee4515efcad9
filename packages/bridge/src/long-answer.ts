/**
 * Long answers in pieces the VM understands (61xx + GET RESPONSE): the splitter lives in
 * @cardlend/vscard (long-answer.ts), shared with the relay, which splits next to QEMU when the
 * page and the relay agree on the long-answers subprotocol (issue 11 §3).
 */
export { DEFAULT_MAX_ANSWER_BYTES, getResponseNe, LongAnswerSplitter } from '@cardlend/vscard';
export type { LongAnswerSplitterOptions, SplitterDecision } from '@cardlend/vscard';
