/** Failure codes of the QEMU test bed. */
export type TestbedErrorCode =
  | 'TESTBED_QEMU_START_FAILED'
  | 'TESTBED_QEMU_EXITED'
  | 'TESTBED_TIMEOUT'
  | 'TESTBED_FETCH_FAILED'
  | 'TESTBED_MONITOR_FAILED'
  | 'TESTBED_CLIENT_CLOSED'
  | 'TESTBED_PROTOCOL';

const brand = Symbol.for('cardlend.qemu-testbed.error');

/** The one error class of this package; branch on `code`. */
export class TestbedError extends Error {
  readonly code: TestbedErrorCode;
  readonly [brand] = true;
  constructor(code: TestbedErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'TestbedError';
    this.code = code;
  }
}

/** Brand check that survives a class loaded twice. */
export function isTestbedError(e: unknown): e is TestbedError {
  return typeof e === 'object' && e !== null && (e as Record<symbol, unknown>)[brand] === true;
}
