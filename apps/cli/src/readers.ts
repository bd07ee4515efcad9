/** `cardlend readers [--json]`: one reader a line with its card state and ATR. */
import type { Plan } from './args.ts';
import { formatReaderLines, formatReadersJson } from './format.ts';
import { ExitCode } from './outcome.ts';
import type { CliDeps, ReaderService } from './ports.ts';
import { explainForCli, failureOfReaderError, formatProblem } from './problem.ts';

/** Lists the readers; resolves with the exit code. Never rejects. */
export async function runReaders(
  plan: Extract<Plan, { kind: 'readers' }>,
  deps: CliDeps,
): Promise<ExitCode> {
  let service: ReaderService | null = null;
  try {
    service = await deps.readers();
    const readers = await service.list();
    deps.output.out(plan.json ? formatReadersJson(readers) : formatReaderLines(readers));
    return ExitCode.Ok;
  } catch (e) {
    deps.output.err(formatProblem(explainForCli(failureOfReaderError(e), deps.os)));
    return ExitCode.Failed;
  } finally {
    await service?.close().catch(() => undefined);
  }
}
