/**
 * `cardlend lend`: choose the reader, ask for consent, then lend through the bridge until a
 * stop signal or the end of lending. The decisions are pure (reader-choice.ts, consent.ts,
 * outcome.ts, format.ts); this file only wires them to the reader service, the terminal and
 * the bridge.
 */
import { CardBridge } from '@cardlend/bridge';
import type { ApduLogEntry, BridgeErrorCode, BridgeState } from '@cardlend/bridge';
import type { Plan } from './args.ts';
import { CONSENT_QUESTION, consentText, decideConsent, isConsentGiven } from './consent.ts';
import { exportEntry, formatApduLine, formatStatus, jsonLine, stateEvent } from './format.ts';
import { formatHex } from './hex.ts';
import { ExitCode, outcomeOf } from './outcome.ts';
import type { Outcome } from './outcome.ts';
import type { CliDeps, OpenedReader, ReaderService } from './ports.ts';
import { formatProblem, problemForBridge } from './problem.ts';
import type { CliProblem } from './problem.ts';
import { chooseReader, pickFromAnswer } from './reader-choice.ts';
import type { ReaderSummary } from './reader-choice.ts';
import { describeTarget } from './consent.ts';
import { decodeTokenClaims } from './token-claims.ts';
import { readerServiceProblem } from './reader-problems.ts';

type LendPlan = Extract<Plan, { kind: 'lend' }>;

const STOPPED_BEFORE = 'Stopped before lending; nothing was lent.';

/** Ends the command early with a message (not lent). */
class NotLent extends Error {
  readonly exitCode: ExitCode;
  readonly problem: CliProblem | string;
  constructor(exitCode: ExitCode, problem: CliProblem | string) {
    super(typeof problem === 'string' ? problem : problem.title);
    this.exitCode = exitCode;
    this.problem = problem;
  }
}

async function pickReader(
  plan: LendPlan,
  service: ReaderService,
  deps: CliDeps,
  abort: AbortSignal,
): Promise<ReaderSummary> {
  const readers = await service.list();
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

/** Prints state changes and APDUs as text lines or JSON events. */
function reporter(plan: LendPlan, deps: CliDeps) {
  let lastStatus = '';
  return {
    state(s: BridgeState): void {
      if (plan.json) {
        deps.output.out(jsonLine(stateEvent(s)));
        return;
      }
      const line = formatStatus(s, deps.now());
      if (line !== lastStatus) deps.output.out(`${line}\n`);
      lastStatus = line;
    },
    apdu(e: ApduLogEntry): void {
      const entry = exportEntry(e);
      deps.output.out(
        plan.json ? jsonLine({ event: 'apdu', ...entry }) : `${formatApduLine(entry)}\n`,
      );
    },
  };
}

/** Lends until the bridge ends or a stop signal; resolves with the exit code and the problem. */
async function lendWithBridge(
  plan: LendPlan,
  reader: OpenedReader,
  name: string,
  deps: CliDeps,
  stopRequested: { value: boolean; onStop: (() => void) | null },
): Promise<{ exitCode: ExitCode; problem: CliProblem | null }> {
  const bridge = new CardBridge({
    reader,
    relayUrl: plan.target.relayUrl,
    token: plan.target.token,
    createWebSocket: deps.createWebSocket,
    t0Compat: plan.t0Compat,
    readerName: name,
  });
  const report = reporter(plan, deps);
  let decided: Extract<Outcome, { kind: 'stop' }> | null = null;
  const done = new Promise<{ exitCode: ExitCode; problem: CliProblem | null }>((resolve) => {
    bridge.onApdu((e) => report.apdu(e));
    bridge.onState((s) => {
      report.state(s);
      const o = outcomeOf(s, stopRequested.value);
      if (o.kind === 'continue') return;
      if (o.kind === 'stop') {
        if (decided !== null) return;
        decided = o;
        void bridge.stop();
        return;
      }
      const first: { exitCode: ExitCode; errorCode: BridgeErrorCode | null } = decided ?? o;
      const code = first.errorCode;
      resolve({
        exitCode: first.exitCode,
        problem: code === null ? null : problemForBridge(code, s.closeCode),
      });
    });
  });
  stopRequested.onStop = () => void bridge.stop();
  if (stopRequested.value) void bridge.stop();
  bridge.start().catch(() => undefined); // the outcome comes from the state
  return done;
}

/** Runs `cardlend lend`; resolves with the exit code. Never rejects. */
export async function runLend(plan: LendPlan, deps: CliDeps): Promise<ExitCode> {
  const stop = { value: false, onStop: null as (() => void) | null };
  const prompts = new AbortController();
  const unsubscribe = deps.signals.onStop((signal) => {
    if (!plan.json && stop.onStop !== null)
      deps.output.err(`\n${signal}: stopping; the VM will see the card removed…\n`);
    stop.value = true;
    prompts.abort();
    stop.onStop?.();
  });
  let service: ReaderService | null = null;
  let opened: OpenedReader | null = null;
  let result: { exitCode: ExitCode; problem: CliProblem | string | null };
  try {
    service = await deps.readers();
    const reader = await pickReader(plan, service, deps, prompts.signal);
    if (stop.value) throw new NotLent(ExitCode.Ok, STOPPED_BEFORE);
    await askConsent(plan, reader, deps, prompts.signal);
    if (stop.value) throw new NotLent(ExitCode.Ok, STOPPED_BEFORE);
    opened = await service.open(reader.name);
    announce(plan, reader, deps);
    result = await lendWithBridge(plan, opened, reader.name, deps, stop);
  } catch (e) {
    result =
      e instanceof NotLent
        ? { exitCode: e.exitCode, problem: e.problem }
        : { exitCode: ExitCode.Failed, problem: readerServiceProblem(e) };
  } finally {
    unsubscribe();
  }
  await opened?.close().catch(() => undefined);
  await service?.close().catch(() => undefined);
  report(plan, result, deps);
  return result.exitCode;
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
  result: { exitCode: ExitCode; problem: CliProblem | string | null },
  deps: CliDeps,
): void {
  const { problem } = result;
  const text =
    problem === null
      ? ''
      : typeof problem === 'string'
        ? `cardlend: ${problem}\n`
        : formatProblem(problem);
  if (text !== '') deps.output.err(text);
  if (plan.json)
    deps.output.out(
      jsonLine({
        event: 'end',
        exitCode: result.exitCode,
        reason:
          problem === null ? 'stopped' : typeof problem === 'string' ? problem : problem.reference,
        problem,
      }),
    );
}
