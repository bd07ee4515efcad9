/**
 * When lending ends and with which exit code, from the bridge's state. Pure.
 *
 * The bridge retries by itself (network drops, the relay restarting, a card pulled and
 * inserted); the CLI ends only when the bridge ended (refused, failed, stopped) or when the
 * VM refused the card's ATR, where the bridge would wait for another card but a person at a
 * terminal is better told at once.
 */
import type { BridgeErrorCode, BridgeState } from '@cardlend/bridge';

/** Exit codes of `cardlend`. */
export const ExitCode = {
  /** Done as asked: lending stopped by Ctrl-C / SIGTERM, or a listing printed. */
  Ok: 0,
  /** Lending ended by a problem (relay closed, reader gone, gave up reconnecting, …). */
  Failed: 1,
  /** Bad command line or link. */
  Usage: 2,
  /** The relay or the VM refused: token, token used, origin, VM in use, ATR. */
  Refused: 3,
  /** Nothing lent: consent not given, or no reader could be chosen. */
  NotLent: 4,
} as const;
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];

export type Outcome =
  | { readonly kind: 'continue' }
  /** Stop the bridge (it is still running), then exit. */
  | { readonly kind: 'stop'; readonly exitCode: ExitCode; readonly errorCode: BridgeErrorCode }
  /** The bridge has ended: exit. `errorCode` null when it ended as asked. */
  | {
      readonly kind: 'exit';
      readonly exitCode: ExitCode;
      readonly errorCode: BridgeErrorCode | null;
    };

/**
 * What to do after a state change.
 * @param isStopRequested true once the person asked to stop (signal): a `stopped` link is then success.
 */
export function outcomeOf(state: BridgeState, isStopRequested: boolean): Outcome {
  const code = state.error?.code ?? null;
  switch (state.link) {
    case 'idle':
    case 'connecting':
    case 'lent':
    case 'reconnecting':
      return { kind: 'continue' };
    case 'refused':
      if (code === 'BRIDGE_ATR_REFUSED')
        return isStopRequested
          ? { kind: 'continue' }
          : { kind: 'stop', exitCode: ExitCode.Refused, errorCode: code };
      return { kind: 'exit', exitCode: ExitCode.Refused, errorCode: code ?? 'BRIDGE_UNKNOWN' };
    case 'failed':
      return { kind: 'exit', exitCode: ExitCode.Failed, errorCode: code ?? 'BRIDGE_UNKNOWN' };
    case 'stopped':
      if (isStopRequested && code === null)
        return { kind: 'exit', exitCode: ExitCode.Ok, errorCode: null };
      return { kind: 'exit', exitCode: ExitCode.Failed, errorCode: code ?? 'BRIDGE_RELAY_CLOSED' };
  }
}
