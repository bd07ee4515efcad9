/**
 * Everything the CLI prints, as strings: reader lines, the status line, APDU log lines and
 * JSON events. Pure. PIN data never reaches here: APDU entries go through the bridge's
 * `toExportableLog` (the page's redaction: VERIFY, CHANGE REFERENCE DATA, RESET RETRY
 * COUNTER keep only their header), and a redacted command's answer is not printed either.
 */
import { toExportableLog } from '@cardlend/bridge';
import type { ApduLogEntry, BridgeState, ExportedApduLogEntry } from '@cardlend/bridge';
import type { OsFamily } from '@cardlend/problems';
import { compactHex, formatHex } from './hex.ts';
import { problemForState } from './problem.ts';
import type { ReaderSummary } from './reader-choice.ts';

/** The bridge retrying a failed power on of the card. */
type PowerOnRetry = NonNullable<BridgeState['powerOnRetry']>;

const STATE_WORDS: Record<ReaderSummary['state'], string> = {
  present: 'card',
  empty: 'no card',
  'in-use': 'card, in use by another program',
  mute: 'card, not answering',
  unknown: 'state unknown',
};

/** `cardlend readers`: one reader a line (name, card state, ATR), columns aligned. */
export function formatReaderLines(readers: readonly ReaderSummary[]): string {
  if (readers.length === 0) return 'No smart card reader found.\n';
  const width = Math.max(...readers.map((r) => r.name.length));
  return readers
    .map((r) => {
      const atr = r.atr === null ? '' : `  ATR ${formatHex(r.atr)}`;
      return `${r.name.padEnd(width)}  ${STATE_WORDS[r.state]}${atr}`.trimEnd();
    })
    .map((l) => `${l}\n`)
    .join('');
}

/** `cardlend readers --json`: one JSON document. */
export function formatReadersJson(readers: readonly ReaderSummary[]): string {
  return `${JSON.stringify({
    readers: readers.map((r) => ({
      name: r.name,
      state: r.state,
      atr: r.atr === null ? null : formatHex(r.atr).replaceAll(' ', ''),
    })),
  })}\n`;
}

/** Local wall-clock time `HH:MM:SS` of `ms` (unix ms), the prefix of status lines. */
export function clockTime(ms: number): string {
  const d = new Date(ms);
  return [d.getHours(), d.getMinutes(), d.getSeconds()]
    .map((n) => String(n).padStart(2, '0'))
    .join(':');
}

/** Whole seconds from `nowMs` until `atMs`, as ` in N s` (never negative). */
function inSeconds(atMs: number, nowMs: number): string {
  return ` in ${Math.max(0, Math.ceil((atMs - nowMs) / 1000))} s`;
}

/**
 * The bridge powering the card on again by itself: the card is not ready, why the last try
 * failed (the catalog's title and reference, as for any problem), and the retry n/N.
 */
function cardRetryStatus(retry: PowerOnRetry, nowMs: number, os: OsFamily): string {
  const why = problemForState(retry.error, undefined, os);
  const when = inSeconds(retry.nextAtMs, nowMs);
  return (
    `Lent: the VM sees the reader; card not ready (${why.title}, ${why.reference}), ` +
    `trying again (${retry.attempt}/${retry.maxAttempts})${when}…`
  );
}

/**
 * The one-line status for a bridge state (`nowMs`: the bridge clock, for the retry countdowns;
 * `os`: for the catalog's words of a failed power on that is retried).
 */
export function formatStatus(state: BridgeState, nowMs: number, os: OsFamily = 'other'): string {
  const card = state.card;
  switch (state.link) {
    case 'idle':
    case 'connecting':
      return 'Connecting to the VM through the relay…';
    case 'lent': {
      if (card === null && state.powerOnRetry !== undefined)
        return cardRetryStatus(state.powerOnRetry, nowMs, os);
      if (card === null)
        return state.error === null
          ? 'Lent: the VM sees the reader; no card in it.'
          : `Lent: the VM sees the reader; no card in it: ${state.error.message}`;
      const compat = card.isT0Compat
        ? ` (shown to the VM as ${formatHex(card.presentedAtr)}, T=0-compatible)`
        : '';
      const what =
        card.vmStatus === 'accepted'
          ? 'the VM can use the card'
          : card.vmStatus === 'refused'
            ? 'the VM refused the card'
            : 'announcing the card to the VM';
      return `Lent: ${what}, ATR ${formatHex(card.atr)}${compat}.`;
    }
    case 'reconnecting': {
      const inSec = state.nextRetryAtMs === undefined ? '' : inSeconds(state.nextRetryAtMs, nowMs);
      const why =
        state.error === null ? 'The connection dropped' : state.error.message.replace(/\.$/, '');
      return `${why}; reconnecting (attempt ${state.reconnectAttempt ?? 1}${inSec})…`;
    }
    case 'refused':
      return `Refused: ${state.error?.message ?? 'the relay or the VM said no.'}`;
    case 'stopped':
      return 'Stopped: the VM no longer has the card.';
    case 'failed':
      return `Stopped after a problem: ${state.error?.message ?? 'unknown'}`;
  }
}

/** The redacted, JSON-ready form of a log entry; a redacted command's answer is dropped too. */
export function exportEntry(entry: ApduLogEntry): ExportedApduLogEntry {
  const [e] = toExportableLog([entry]) as [ExportedApduLogEntry];
  return e.isRedacted ? { ...e, response: null } : e;
}

/** One APDU log line: number, name, command (or `[PIN hidden]`), answer, status word, latency. */
export function formatApduLine(e: ExportedApduLogEntry): string {
  const command = e.command === null ? `${e.header} [PIN data hidden]` : compactHex(e.command, 24);
  const answer =
    e.sw === null
      ? e.swText
      : `${e.responseDataLength > 0 ? `${e.responseDataLength} bytes ` : ''}${e.sw} ${e.swText}`;
  const by =
    e.answeredBy === 'card'
      ? ''
      : e.answeredBy === 'bridge-buffer'
        ? ' [from buffer]'
        : ` [cardlend answered: ${e.errorCode ?? 'error'}]`;
  return `#${e.id} ${e.name} ${command} → ${answer}${by} (${e.latencyMs.toFixed(1)} ms)`;
}

/** A JSON event line for `--json`. */
export type JsonEvent =
  | { event: 'reader'; name: string; atr: string | null; relayUrl: string; target: string | null }
  | {
      event: 'state';
      link: BridgeState['link'];
      card: {
        atr: string;
        presentedAtr: string;
        isT0Compat: boolean;
        vmStatus: string;
      } | null;
      error: { code: string; message: string } | null;
      reconnectAttempt: number | null;
      /** The bridge retries a failed power on of the card (`BridgeState.powerOnRetry`), else null. */
      powerOnRetry: PowerOnRetry | null;
    }
  | ({ event: 'apdu' } & ExportedApduLogEntry)
  /** The smart-card service went away (`reference`: its PC/SC code) or came back. */
  | { event: 'service'; state: 'down' | 'back'; reference: string | null }
  | { event: 'end'; exitCode: number; reason: string; problem: unknown };

const plainHex = (b: Uint8Array): string => formatHex(b).replaceAll(' ', '');

/** The `state` event of a bridge state. */
export function stateEvent(state: BridgeState): JsonEvent {
  return {
    event: 'state',
    link: state.link,
    card:
      state.card === null
        ? null
        : {
            atr: plainHex(state.card.atr),
            presentedAtr: plainHex(state.card.presentedAtr),
            isT0Compat: state.card.isT0Compat,
            vmStatus: state.card.vmStatus,
          },
    error: state.error,
    reconnectAttempt: state.reconnectAttempt ?? null,
    powerOnRetry: state.powerOnRetry ?? null,
  };
}

/** One JSON line. */
export function jsonLine(e: JsonEvent): string {
  return `${JSON.stringify(e)}\n`;
}
