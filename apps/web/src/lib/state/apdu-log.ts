/**
 * Rows of the live APDU view and their JSON export. PIN data (VERIFY, CHANGE REFERENCE DATA,
 * RESET RETRY COUNTER) is dropped on arrival, whatever the bridge sends, so it is neither
 * shown nor kept nor exported. Pure.
 */
import { toHex } from '@cardlend/bridge';
import type { ApduRecord } from './ports.ts';

/** ISO 7816-4 instruction bytes whose command data are PINs or PUKs. */
const PIN_INS = new Set([
  0x20 /* VERIFY */, 0x24 /* CHANGE REFERENCE DATA */, 0x2c /* RESET RETRY COUNTER */,
]);

/**
 * What a PIN command was: `status-query` = a VERIFY without data, which only asks whether the
 * PIN is verified and how many tries are left (ISO 7816-4 §11.5.6: nothing was tried);
 * `pin` = PIN data was sent (never shown, nor its length).
 */
export type PinUse = 'status-query' | 'pin';

/** The outcome of a PIN entry worth a warning beside the status (not only in the log). */
export interface PinWarning {
  /** Tries left before the card locks the PIN; 0 when it is blocked. */
  triesLeft: number;
  atEpochMs: number;
}

/** One row as the page keeps it. */
export interface LogRow {
  id: number;
  /** Wall-clock time the answer was seen, ms since the epoch. */
  atEpochMs: number;
  name: string;
  /** Command data length (Lc), bytes; null for PIN data (its length would reveal the PIN's). */
  lc: number | null;
  /** Set for PIN commands (VERIFY, CHANGE REFERENCE DATA, RESET RETRY COUNTER). */
  pinUse: PinUse | null;
  /** Expected answer length (Le), bytes; null when absent. */
  le: number | null;
  /** Answer data length without the status word, bytes; null when no answer. */
  answerBytes: number | null;
  sw: number | null;
  swText: string;
  latencyMs: number;
  /** True when the command carried PIN data: no bytes kept. */
  isRedacted: boolean;
  /** Who answered (the card, the bridge's buffer of a long answer, or the bridge on an error). */
  answeredBy: 'card' | 'bridge-buffer' | 'bridge-error';
  /** The command as lower-case hex, null when redacted (built when read: only the export reads it). */
  readonly commandHex: string | null;
  /** The answer as lower-case hex, null when redacted or unanswered (built when read). */
  readonly responseHex: string | null;
}

/** Lower-case hex, as the export has always had it (built only when the export reads a row). */
const lowerHex = (bytes: Uint8Array): string => toHex(bytes).toLowerCase();

/**
 * A row whose hex is built only when read. The live view never shows it, and only the export
 * reads it: building it for every guest command made most of the page's garbage per APDU
 * (issue 11 §3). The row keeps the record's bytes instead, which the bridge copied for this
 * entry alone (`createLogEntry` of @cardlend/bridge); a redacted row keeps none.
 */
class Row implements LogRow {
  readonly id: number;
  readonly atEpochMs: number;
  readonly name: string;
  readonly lc: number | null;
  readonly pinUse: PinUse | null;
  readonly le: number | null;
  readonly answerBytes: number | null;
  readonly sw: number | null;
  readonly swText: string;
  readonly latencyMs: number;
  readonly isRedacted: boolean;
  readonly answeredBy: LogRow['answeredBy'];
  readonly #command: Uint8Array | null;
  readonly #response: Uint8Array | null;

  constructor(e: ApduRecord, atEpochMs: number, pinUse: PinUse | null, isRedacted: boolean) {
    this.id = e.id;
    this.atEpochMs = atEpochMs;
    this.name = e.name;
    this.lc = pinUse === 'pin' ? null : e.lc;
    this.pinUse = pinUse;
    this.le = e.le;
    this.answerBytes = e.response === null ? null : Math.max(0, e.response.length - 2);
    this.sw = e.sw;
    this.swText = pinUse === 'status-query' ? statusQueryText(e.sw, e.swText) : e.swText;
    this.latencyMs = e.latencyMs;
    this.isRedacted = isRedacted;
    this.answeredBy = e.answeredBy ?? 'card';
    this.#command = isRedacted ? null : e.command;
    this.#response = isRedacted ? null : e.response;
  }

  get commandHex(): string | null {
    return this.#command === null ? null : lowerHex(this.#command);
  }

  get responseHex(): string | null {
    return this.#response === null ? null : lowerHex(this.#response);
  }
}

/** True when the command's INS byte is a PIN command (ISO 7816-4 §11.5). */
export function isPinCommand(command: Uint8Array | null): boolean {
  return command !== null && command.length >= 2 && PIN_INS.has(command[1] ?? -1);
}

/** The INS byte, from the command or (when the bridge withheld it) its 4-byte header. */
function insOf(e: ApduRecord): number | null {
  const header = (e as { header?: unknown }).header;
  const bytes = e.command ?? (header instanceof Uint8Array ? header : null);
  return bytes !== null && bytes.length >= 2 ? (bytes[1] ?? null) : null;
}

function pinUseOf(e: ApduRecord): PinUse | null {
  const ins = insOf(e);
  const isPin = ins !== null ? PIN_INS.has(ins) : e.isRedacted;
  if (!isPin) return null;
  const isVerify = ins === 0x20 || (ins === null && e.name === 'VERIFY');
  return isVerify && e.lc === 0 ? 'status-query' : 'pin';
}

/** Tries left in a 63Cx answer, or 0 for "blocked" (6983); null otherwise. */
export function pinTriesLeft(sw: number | null): number | null {
  if (sw === null) return null;
  if (sw >> 4 === 0x63c) return sw & 0x0f;
  if (sw === 0x6983) return 0;
  return null;
}

/** The meaning of a PIN-status query's answer: nothing was tried (ISO 7816-4 §11.5.6). */
function statusQueryText(sw: number | null, fallback: string): string {
  const tries = pinTriesLeft(sw);
  if (sw === 0x9000) return 'PIN already verified';
  if (tries === 0) return 'PIN blocked';
  if (tries !== null) return `PIN not verified yet, ${tries} ${tries === 1 ? 'try' : 'tries'} left`;
  return fallback;
}

/** A wrong or blocked PIN entry (not a status query), for the warning beside the status. */
export function pinWarningOf(row: LogRow): PinWarning | null {
  if (row.pinUse !== 'pin' || row.name !== 'VERIFY') return null;
  const triesLeft = pinTriesLeft(row.sw);
  return triesLeft === null ? null : { triesLeft, atEpochMs: row.atEpochMs };
}

/**
 * Build a row from a bridge record, dropping PIN data and its length. Pure. The row keeps the
 * record's bytes (unless redacted) for its hex: a record's bytes must not change afterwards.
 */
export function toLogRow(e: ApduRecord, atEpochMs: number): LogRow {
  const pinUse = pinUseOf(e);
  return new Row(e, atEpochMs, pinUse, e.isRedacted || pinUse !== null || e.command === null);
}

/** The JSON document the export button downloads. Pure. */
export function exportLog(
  rows: readonly LogRow[],
  meta: { exportedAtEpochMs: number; reader: string | null; atr: string | null; dropped: number },
): string {
  return JSON.stringify(
    {
      format: 'cardlend-apdu-log/1',
      exportedAt: new Date(meta.exportedAtEpochMs).toISOString(),
      reader: meta.reader,
      atr: meta.atr,
      note: 'PIN commands (VERIFY, CHANGE REFERENCE DATA, RESET RETRY COUNTER) are listed without their bytes or length (lc null); pinUse "status-query" is a VERIFY without data, which tries no PIN. Times are whole milliseconds.',
      droppedOlderEntries: meta.dropped,
      entries: rows.map((r) => ({
        id: r.id,
        at: new Date(r.atEpochMs).toISOString(),
        command: r.name,
        lc: r.lc,
        pinUse: r.pinUse,
        le: r.le,
        answerBytes: r.answerBytes,
        sw: r.sw === null ? null : r.sw.toString(16).padStart(4, '0'),
        meaning: r.swText,
        latencyMs: Math.round(r.latencyMs),
        redacted: r.isRedacted,
        answeredBy: r.answeredBy,
        commandHex: r.commandHex,
        responseHex: r.responseHex,
      })),
    },
    null,
    2,
  );
}
