/**
 * The lending itself: one CardBridge over the opened reader, its state and APDUs reported as
 * text or JSON, until the bridge ends or a stop is requested. What each state means for the
 * exit is outcome.ts; the words are format.ts and problem.ts.
 */
import { CardBridge } from '@cardlend/bridge';
import type { ApduLogEntry, BridgeState } from '@cardlend/bridge';
import type { LendPlan } from './args.ts';
import {
  clockTime,
  exportEntry,
  formatApduLine,
  formatStatus,
  jsonLine,
  stateEvent,
} from './format.ts';
import { outcomeOf } from './outcome.ts';
import type { ExitCode } from './outcome.ts';
import type { CliDeps, OpenedReader, ServiceEvent } from './ports.ts';
import { explainForCli, failureOfReaderError, problemForState } from './problem.ts';
import type { CliProblem } from './problem.ts';

/** How lending ended. */
export interface LendResult {
  exitCode: ExitCode;
  problem: CliProblem | null;
}

/** A stop request the session can be told about once it runs. */
export interface StopRequest {
  isRequested: boolean;
  /** Set by the session: stops the bridge. */
  onStop: (() => void) | null;
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
      const line = formatStatus(s, deps.now(), deps.os);
      if (line !== lastStatus) deps.output.out(`${clockTime(deps.now())} ${line}\n`);
      lastStatus = line;
    },
    /** The smart-card service went away or came back: say why the card is gone meanwhile. */
    service(e: ServiceEvent): void {
      if (e.type === 'service-back') {
        deps.output.out(
          plan.json
            ? jsonLine({ event: 'service', state: 'back', reference: null })
            : `${clockTime(deps.now())} The smart card service is back; the card is lent again once the reader reports it.\n`,
        );
        return;
      }
      const why = explainForCli(failureOfReaderError(e.error), deps.os);
      deps.output.out(
        plan.json
          ? jsonLine({ event: 'service', state: 'down', reference: why.reference })
          : `${clockTime(deps.now())} ${why.title} (${why.reference}): the VM sees no card until it is back; cardlend waits for it.\n`,
      );
      lastStatus = '';
    },
    apdu(e: ApduLogEntry): void {
      const entry = exportEntry(e);
      deps.output.out(
        plan.json ? jsonLine({ event: 'apdu', ...entry }) : `${formatApduLine(entry)}\n`,
      );
    },
  };
}

/** Lends until the bridge ends or a stop is requested; resolves with the exit code and the problem. */
export function lendWithBridge(
  plan: LendPlan,
  reader: OpenedReader,
  readerName: string,
  deps: CliDeps,
  stop: StopRequest,
  onServiceEvent: (listener: (e: ServiceEvent) => void) => () => void,
): Promise<LendResult> {
  const bridge = new CardBridge({
    reader,
    relayUrl: plan.target.relayUrl,
    token: plan.target.token,
    createWebSocket: deps.createWebSocket,
    t0Compat: plan.t0Compat,
    readerName,
  });
  const report = reporter(plan, deps);
  const unsubscribeService = onServiceEvent((e) => report.service(e));
  /** Set when the CLI itself stopped the bridge because of a problem (the ATR refused). */
  let stoppedFor: LendResult | null = null;
  const done = new Promise<LendResult>((resolve) => {
    bridge.onApdu((e) => report.apdu(e));
    bridge.onState((s) => {
      report.state(s);
      const o = outcomeOf(s, stop.isRequested);
      if (o.kind === 'continue') return;
      if (o.kind === 'stop') {
        if (stoppedFor !== null) return;
        stoppedFor = {
          exitCode: o.exitCode,
          problem: problemForState(s.error, s.closeCode, deps.os),
        };
        void bridge.stop();
        return;
      }
      resolve(
        stoppedFor ?? {
          exitCode: o.exitCode,
          problem:
            o.errorCode === null
              ? null
              : problemForState(s.error ?? { code: o.errorCode }, s.closeCode, deps.os),
        },
      );
    });
  });
  stop.onStop = () => void bridge.stop();
  if (stop.isRequested) void bridge.stop();
  bridge.start().catch(() => undefined); // the outcome comes from the state
  return done.finally(unsubscribeService);
}
