import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { describeStatusWord, formatStatusWord } from '../src/status-words.ts';

describe('describeStatusWord', () => {
  it.each([
    [0x9000, 'Success'],
    [0x6110, 'Success, 16 more bytes available (GET RESPONSE)'],
    [0x6100, 'Success, 256 or more bytes still available (GET RESPONSE)'],
    [0x63c2, 'Verification failed, 2 tries left'],
    [0x63c1, 'Verification failed, 1 try left'],
    [0x6983, 'Authentication method blocked (PIN blocked)'],
    [0x6982, 'Security status not satisfied (PIN or authentication required)'],
    [0x6a82, 'File or application not found'],
    [0x6c10, 'Wrong Le field: 16 bytes available'],
    [0x6d00, 'Instruction code not supported or invalid'],
    [0x6e00, 'Class not supported'],
    [0x6f00, 'No precise diagnosis'],
    [0x6700, 'Wrong length'],
    [0x6a86, 'Incorrect parameters P1-P2'],
    [0x9101, 'Application-specific status'],
    [0x6999, 'Command not allowed'],
    [0x1234, 'Unknown status word'],
    [-1, 'Invalid status word'],
    [0x10000, 'Invalid status word'],
    [1.5, 'Invalid status word'],
  ])('%s', (sw, text) => {
    expect(describeStatusWord(sw)).toBe(text);
  });

  it('has a text for every 16-bit value', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 0xffff }), (sw) => {
        expect(describeStatusWord(sw).length).toBeGreaterThan(0);
      }),
      { numRuns: 300 },
    );
  });

  it('formats as four hex digits', () => {
    expect(formatStatusWord(0x9000)).toBe('9000');
    expect(formatStatusWord(0x6a)).toBe('006A');
  });
});
