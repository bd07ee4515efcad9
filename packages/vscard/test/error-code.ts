import { isVscardError } from '../src/index.ts';

/** The VscardError code `f` throws, undefined when it returns; any other error is rethrown. */
export function codeOf(f: () => unknown): string | undefined {
  try {
    f();
    return undefined;
  } catch (e) {
    if (!isVscardError(e)) throw e;
    return e.code;
  }
}
