/**
 * Rows of the live APDU view and their JSON export. PIN data (VERIFY, CHANGE REFERENCE DATA,
 * RESET RETRY COUNTER) is dropped on arrival, whatever the bridge sends, so it is neither
 * shown nor kept nor exported. Pure.
 */
import type { ApduRecord } from './ports.ts';

/** ISO 7816-4 instruction bytes whose command data are PINs or PUKs. */
const PIN_INS = new Set([
  0x20 /* VERIFY */, 0x24 /* CHANGE REFERENCE DATA */, 0x2c /* RESET RETRY COUNTER */,
]);

/** One row as the page keeps it. */
export interface LogRow {
  id: number;
  /** Wall-clock time the answer was seen, ms since the epoch. */
  atEpochMs: number;
  name: string;
  /** Command data length (Lc), bytes. */
  lc: number;
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
  commandHex: string | null;
  responseHex: string | null;
}

const toHex = (b: Uint8Array): string =>
  Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');

/** True when the command's INS byte is a PIN command (ISO 7816-4 §11.5). */
export function isPinCommand(command: Uint8Array | null): boolean {
  return command !== null && command.length >= 2 && PIN_INS.has(command[1] ?? -1);
}

/** Build a row from a bridge record, dropping PIN data. Pure. */
export function toLogRow(e: ApduRecord, atEpochMs: number): LogRow {
  const isRedacted = e.isRedacted || isPinCommand(e.command) || e.command === null;
  const answerBytes = e.response === null ? null : Math.max(0, e.response.length - 2);
  return {
    id: e.id,
    atEpochMs,
    name: e.name,
    lc: e.lc,
    le: e.le,
    answerBytes,
    sw: e.sw,
    swText: e.swText,
    latencyMs: e.latencyMs,
    isRedacted,
    answeredBy: e.answeredBy ?? 'card',
    commandHex: isRedacted || e.command === null ? null : toHex(e.command),
    responseHex: isRedacted || e.response === null ? null : toHex(e.response),
  };
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
      note: 'PIN commands (VERIFY, CHANGE REFERENCE DATA, RESET RETRY COUNTER) are listed without their bytes.',
      droppedOlderEntries: meta.dropped,
      entries: rows.map((r) => ({
        id: r.id,
        at: new Date(r.atEpochMs).toISOString(),
        command: r.name,
        lc: r.lc,
        le: r.le,
        answerBytes: r.answerBytes,
        sw: r.sw === null ? null : r.sw.toString(16).padStart(4, '0'),
        meaning: r.swText,
        latencyMs: Math.round(r.latencyMs * 10) / 10,
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
