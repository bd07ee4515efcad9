/**
 * Problems of the PC/SC side before lending starts (no service, reader vanished, …), in the
 * words the CLI prints. Pure.
 */
import type { CliProblem } from './problem.ts';

/** The problem for anything the reader service threw (an Error with a string `code`, or not). */
export function readerServiceProblem(e: unknown): CliProblem {
  const code =
    typeof e === 'object' && e !== null && typeof (e as { code?: unknown }).code === 'string'
      ? (e as { code: string }).code
      : 'UNKNOWN';
  const detail = e instanceof Error ? e.message : String(e);
  return {
    title: 'The smart card readers could not be used.',
    cause: detail,
    fixes: [
      'Check that the smart card service is running (Linux: pcscd; Windows: "Smart Card" service; macOS: built in) and that the reader is plugged in.',
    ],
    reference: code,
  };
}
