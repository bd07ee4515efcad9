import * as vscard from '@cardlend/vscard';
import { describe, expect, it } from 'vitest';
import * as bridge from '../src/index.ts';

// The splitter's behaviour is tested where it lives (packages/vscard/test/long-answer.test.ts);
// here only that the bridge hands out the very same objects.
describe('long-answer re-exports', () => {
  it('are the vscard splitter, its Ne helper and its default limit', () => {
    expect(bridge.LongAnswerSplitter).toBe(vscard.LongAnswerSplitter);
    expect(bridge.getResponseNe).toBe(vscard.getResponseNe);
    expect(bridge.DEFAULT_MAX_ANSWER_BYTES).toBe(vscard.DEFAULT_MAX_ANSWER_BYTES);
  });
});
