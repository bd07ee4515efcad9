/**
 * `cardlend lend`: choose the reader, ask for consent, open the reader, then lend
 * (lend-session.ts) until a stop signal or the end of lending. The decisions are pure
 * (reader-choice.ts, consent.ts, outcome.ts); this file wires them to the reader service,
 * the terminal and the signals.
 */
import type { LendPlan } from './args.ts';
import {
  CONSENT_QUESTION,
  consentText,
  decideConsent,
  describeTarget,
  isConsentGiven,
} from './consent.ts';
import { jsonLine } from './format.ts';
import { formatHex } from './hex.ts';
import { lendWithBridge } from './lend-session.ts';
import type { LendResult, StopRequest } from './lend-session.ts';
import { ExitCode } from './outcome.ts';
import type { CliDeps, OpenedReader, ReaderService } from './ports.ts';
import { explainForCli, failureOfReaderError, formatProblem } from './problem.ts';
import { chooseReader, pickFromAnswer } from './reader-choice.ts';
import type { ReaderSummary } from './reader-choice.ts';
import { decodeTokenClaims } from './token-claims.ts';

const STOPPED_BEFORE = 'Stopped before lending; nothing was lent.';

/** Ends the command before lending, with a message or an explained problem. */
class NotLent extends Error {
  readonly result: LendResult | { exitCode: ExitCode; problem: string };
  constructor(exitCode: ExitCode, problem: LendResult['problem'] | string) {
    super(typeof problem === 'string' ? problem : (problem?.title ?? 'not lent'));
    this.result = typeof problem === 'string' ? { exitCode, problem } : { exitCode, problem };
  }
}

async function pickReader(
  plan: LendPlan,
  service: ReaderService,
  deps: CliDeps,
  abort: AbortSignal,
): Promise<ReaderSummary> {
  const readers = await service.list();
  if (readers.length === 0)
    throw new NotLent(
      ExitCode.NotLent,
      explainForCli({ kind: 'pcsc', code: 'SCARD_E_NO_READERS_AVAILABLE' }, deps.os),
    );
  const choice = chooseReader(readers, plan.readerQuery, deps.prompter !== null);
  if (choice.kind === 'chosen') return choice.reader;
  if (choice.kind === 'refuse' || deps.prompter === null)
    throw new NotLent(ExitCode.NotLent, choice.kind === 'refuse' ? choice.message : 'No reader.');
  const menu = choice.candidates
    .map((r, i) => `  ${i + 1}. ${r.name}${r.atr === null ? ' (no card)' : ''}`)
    .join('\n');
  const answer = await deps.prompter.ask(
    `${choice.why} Which reader?\n${menu}\nNumber or part of the name: `,
    abort,
  );
  if (abort.aborted) throw new NotLent(ExitCode.Ok, STOPPED_BEFORE);
  const picked = answer === null ? null : pickFromAnswer(choice.candidates, answer);
  if (picked === null) throw new NotLent(ExitCode.NotLent, 'No reader chosen; nothing was lent.');
  return picked;
}

async function askConsent(
  plan: LendPlan,
  reader: ReaderSummary,
  deps: CliDeps,
  abort: AbortSignal,
): Promise<void> {
  const decision = decideConsent({ yes: plan.yes, isInteractive: deps.prompter !== null });
  if (decision.kind === 'skip') return;
  if (decision.kind === 'refuse' || deps.prompter === null)
    throw new NotLent(ExitCode.NotLent, decision.kind === 'refuse' ? decision.message : '');
  const text = `${consentText(reader, plan.target, deps.now())}\n${CONSENT_QUESTION}`;
  const answer = await deps.prompter.ask(text, abort);
  if (abort.aborted) throw new NotLent(ExitCode.Ok, STOPPED_BEFORE);
  if (answer === null || !isConsentGiven(answer))
    throw new NotLent(ExitCode.NotLent, 'Not lent: you did not confirm.');
}

function announce(plan: LendPlan, reader: ReaderSummary, deps: CliDeps): void {
  if (plan.json) {
    deps.output.out(
      jsonLine({
        event: 'reader',
        name: reader.name,
        atr: reader.atr === null ? null : formatHex(reader.atr).replaceAll(' ', ''),
        relayUrl: plan.target.relayUrl,
        target: decodeTokenClaims(plan.target.token)?.targetId ?? null,
      }),
    );
    return;
  }
  deps.output.out(
    `Lending ${reader.name} to ${describeTarget(plan.target, deps.now())}. Press Ctrl-C to stop.\n`,
  );
}

function report(
  plan: LendPlan,
  result: LendResult | { exitCode: ExitCode; problem: string },
  deps: CliDeps,
): void {
  const { problem } = result;
  if (typeof problem === 'string') deps.output.err(`cardlend: ${problem}\n`);
  else if (problem !== null) deps.output.err(formatProblem(problem));
  if (plan.json)
    deps.output.out(
      jsonLine({
        event: 'end',
        exitCode: result.exitCode,
        reason: problem === null ? 'stopped' : typeof problem === 'string' ? problem : problem.id,
        problem,
      }),
    );
}

/** Runs `cardlend lend`; resolves with the exit code. Never rejects. */
export async function runLend(plan: LendPlan, deps: CliDeps): Promise<ExitCode> {
  const stop: StopRequest = { isRequested: false, onStop: null };
  const prompts = new AbortController();
  const unsubscribe = deps.signals.onStop((signal) => {
    if (!plan.json && stop.onStop !== null) deps.output.err(`${signal}: stopping the lending…\n`);
    stop.isRequested = true;
    prompts.abort();
    stop.onStop?.();
  });
  let service: ReaderService | null = null;
  let opened: OpenedReader | null = null;
  let result: LendResult | { exitCode: ExitCode; problem: string };
  try {
    service = await deps.readers();
    const reader = await pickReader(plan, service, deps, prompts.signal);
    if (stop.isRequested) throw new NotLent(ExitCode.Ok, STOPPED_BEFORE);
    await askConsent(plan, reader, deps, prompts.signal);
    if (stop.isRequested) throw new NotLent(ExitCode.Ok, STOPPED_BEFORE);
    opened = await service.open(reader.name);
    announce(plan, reader, deps);
    const readers = service;
    result = await lendWithBridge(plan, opened, reader.name, deps, stop, (l) =>
      readers.onServiceEvent(l),
    );
  } catch (e) {
    result =
      e instanceof NotLent
        ? e.result
        : { exitCode: ExitCode.Failed, problem: explainForCli(failureOfReaderError(e), deps.os) };
  } finally {
    unsubscribe();
  }
  await opened?.close().catch(() => undefined);
  await service?.close().catch(() => undefined);
  report(plan, result, deps);
  return result.exitCode;
}
