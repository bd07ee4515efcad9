/** The configuration tests' one check of a refused setting (RELAY_CONFIG_INVALID). */
import { expect } from 'vitest';
import { RelayError } from '../src/errors.ts';

/**
 * The message of the `RELAY_CONFIG_INVALID` {@link RelayError} that `fn` throws; the test fails
 * if `fn` throws anything else or nothing.
 */
export function configErrorMessage(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(RelayError);
    expect((e as RelayError).code).toBe('RELAY_CONFIG_INVALID');
    return (e as Error).message;
  }
  throw new Error('expected a RELAY_CONFIG_INVALID');
}
