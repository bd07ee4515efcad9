import { describe, expect, it } from 'vitest';
import { closeCodeFor, codeForClose, HELPER_ERROR_CODES } from '../src/index.ts';
import type { HelperErrorCode } from '../src/index.ts';

/** The refusals that end the connection, with their close codes as the page sees them. */
const CLOSING: Readonly<Partial<Record<HelperErrorCode, number>>> = {
  HELPER_ORIGIN_MISSING: 4403,
  HELPER_TOO_MANY_CONNECTIONS: 4429,
  HELPER_MESSAGE_TOO_LARGE: 4413,
  HELPER_MALFORMED: 4400,
  HELPER_RATE_LIMITED: 4420,
  HELPER_TOO_MANY_REQUESTS: 4421,
  HELPER_VERSION: 4426,
  HELPER_STOPPING: 4503,
};

describe('close codes', () => {
  it.each(HELPER_ERROR_CODES.map((code) => [code, CLOSING[code] ?? null] as const))(
    '%s closes with %s',
    (code, closeCode) => {
      expect(closeCodeFor(code)).toBe(closeCode);
    },
  );

  it('reads a refusal back from its close code when the reason is not a code', () => {
    for (const [code, closeCode] of Object.entries(CLOSING)) {
      expect(codeForClose(closeCode, '')).toBe(code);
      expect(codeForClose(closeCode, 'HELPER_PAIRING_BUSY')).toBe('HELPER_PAIRING_BUSY');
    }
    expect(codeForClose(4000, 'something else')).toBeNull();
    expect(codeForClose(1000, '')).toBeNull();
  });
});
