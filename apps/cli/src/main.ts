/**
 * `cardlend`: command line → plan (args.ts) → the command. No process globals here: the
 * entry point (cli.ts) passes the real terminal, readers and signals; tests pass their own.
 */
import { planFromArgs, usageText } from './args.ts';
import { runLend } from './lend.ts';
import { ExitCode } from './outcome.ts';
import { explainForCli, formatProblem } from './problem.ts';
import type { CliDeps } from './ports.ts';
import { runReaders } from './readers.ts';
import { runServe } from './serve/index.ts';
import { CARDLEND_VERSION } from './version.ts';

/** Runs `cardlend` with `argv` (without node and script); resolves with the exit code. */
export async function runCli(argv: readonly string[], deps: CliDeps): Promise<ExitCode> {
  const plan = planFromArgs(argv);
  switch (plan.kind) {
    case 'help':
      deps.output.out(usageText(plan.topic));
      return ExitCode.Ok;
    case 'version':
      deps.output.out(`cardlend ${CARDLEND_VERSION}\n`);
      return ExitCode.Ok;
    case 'usage-error':
      deps.output.err(`cardlend: ${plan.message}\n\n${usageText(plan.topic)}`);
      return ExitCode.Usage;
    case 'link-error':
      // The page's words for a bad relay address or token, with this link's reason.
      deps.output.err(
        formatProblem(
          explainForCli(
            {
              kind: 'page',
              code: plan.problem.code === 'token-chars' ? 'token-invalid' : 'relay-url-invalid',
              reason: plan.problem.message,
            },
            deps.os,
          ),
        ),
      );
      return ExitCode.Usage;
    case 'readers':
      return runReaders(plan, deps);
    case 'lend':
      return runLend(plan, deps);
    case 'serve':
      return runServe(plan.argv, deps);
  }
}
