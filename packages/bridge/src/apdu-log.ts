/**
 * APDU log entries (live view and export). PIN data never enters an entry: commands that
 * {@link describeApdu} marks sensitive keep only their 4-byte header, and not even their
 * length (on cards without padding the length is the PIN's): `lc` says only whether there was
 * data (1) or not (0), `commandLength` counts the header alone.
 */
import { describeApdu } from './apdu-describe.ts';
import { describeStatusWord, formatStatusWord } from './status-words.ts';

/** Who produced the answer that went to the VM. */
export type ApduAnswerSource =
  /** The card (through `transmit`). */
  | 'card'
  /** The bridge's GET RESPONSE buffer (a long answer split with 61xx). */
  | 'bridge-buffer'
  /** The bridge, because the card was absent or the reader failed (status word 6F00). */
  | 'bridge-error';

/** One guest command and its answer, as shown in the live APDU view. */
export interface ApduLogEntry {
  /** Sequence number, from 1 per bridge. */
  id: number;
  /** When the VM's command arrived, milliseconds on the bridge clock (`now()`, default `Date.now`). */
  atMs: number;
  /** Direction of the exchange: always the VM's command to the card and its answer back. */
  direction: 'vm-to-card';
  /** The whole command, or `null` when redacted (PIN data). */
  command: Uint8Array | null;
  /** CLA INS P1 P2 (always kept; contains no PIN data). */
  header: Uint8Array;
  /** Command name (`SELECT`, `VERIFY`, … see describeApdu). */
  name: string;
  /** Command length in bytes; for a redacted command only its 4-byte header. */
  commandLength: number;
  /** Nc: command data length in bytes; for a redacted command 1 when it carried data, else 0. */
  lc: number;
  /** The command carried data (for VERIFY: a PIN; without, it only asks for the PIN's status). */
  hasData: boolean;
  /** Ne: expected response length, `null` when Le is absent. */
  le: number | null;
  /** What was sent to the VM (data + SW1 SW2), `null` if nothing was sent (connection gone). PIN commands answer only a status word. */
  response: Uint8Array | null;
  /** Response data length in bytes, without the status word. */
  responseDataLength: number;
  /** SW1SW2 sent to the VM, `null` when there was none. */
  sw: number | null;
  /** Meaning of `sw` (ISO 7816-4 §5.6), or why there is none. */
  swText: string;
  /** Milliseconds from the VM's command to the answer being sent. */
  latencyMs: number;
  /** True when `command` was withheld because it carries PIN data. */
  isRedacted: boolean;
  /** Who answered. */
  answeredBy: ApduAnswerSource;
  /** Bridge error code when the bridge answered in the card's place. */
  errorCode?: string;
}

/** Builds an entry; the only place a command is copied into the log. */
export function createLogEntry(input: {
  id: number;
  atMs: number;
  command: Uint8Array;
  response: Uint8Array | null;
  latencyMs: number;
  answeredBy: ApduAnswerSource;
  errorCode?: string;
}): ApduLogEntry {
  const d = describeApdu(input.command);
  const response = input.response === null ? null : input.response.slice();
  const sw =
    response !== null && response.length >= 2
      ? ((response[response.length - 2] ?? 0) << 8) | (response[response.length - 1] ?? 0)
      : null;
  const command = d.isSensitive ? null : input.command.slice();
  const entry: ApduLogEntry = {
    id: input.id,
    atMs: input.atMs,
    direction: 'vm-to-card',
    command,
    // A kept command's own first bytes (one copy per entry, not two); a redacted command's
    // header is copied alone (the caller wipes the command's PIN bytes afterwards).
    header: command === null ? input.command.slice(0, 4) : command.subarray(0, 4),
    name: d.name,
    commandLength: d.isSensitive ? Math.min(4, input.command.length) : input.command.length,
    lc: d.isSensitive ? Math.min(d.lc, 1) : d.lc,
    hasData: d.lc > 0,
    le: d.le,
    response,
    responseDataLength: response === null ? 0 : Math.max(0, response.length - 2),
    sw,
    swText:
      sw === null
        ? response === null
          ? 'No answer sent (connection gone)'
          : 'No status word'
        : describeAnswer(sw, input.command, d.lc),
    latencyMs: input.latencyMs,
    isRedacted: d.isSensitive,
    answeredBy: input.answeredBy,
  };
  if (input.errorCode !== undefined) entry.errorCode = input.errorCode;
  return entry;
}

/**
 * The status word's meaning in the light of its command: a VERIFY without data (ISO 7816-4
 * §11.5.6: a query of the PIN's status) answered 63Cx tried nothing — the PIN is simply not
 * verified yet.
 */
function describeAnswer(sw: number, command: Uint8Array, lc: number): string {
  const isStatusQuery = command[1] === 0x20 && lc === 0;
  if (isStatusQuery && (sw & 0xfff0) === 0x63c0) {
    const n = sw & 0x0f;
    return `PIN not verified, ${n} ${n === 1 ? 'try' : 'tries'} left`;
  }
  if (isStatusQuery && sw === 0x9000) return 'PIN already verified (or not needed)';
  return describeStatusWord(sw);
}

/** JSON-ready form of an entry: bytes as upper-case hex, no PIN data. */
export interface ExportedApduLogEntry {
  id: number;
  /** ISO 8601 time when `atMs` is a plausible epoch time, else `null`. */
  at: string | null;
  atMs: number;
  direction: 'vm-to-card';
  name: string;
  header: string;
  command: string | null;
  commandLength: number;
  lc: number;
  hasData: boolean;
  le: number | null;
  response: string | null;
  responseDataLength: number;
  sw: string | null;
  swText: string;
  latencyMs: number;
  isRedacted: boolean;
  answeredBy: ApduAnswerSource;
  errorCode: string | null;
}

/**
 * Turns entries into plain JSON objects for download. Re-checks every command against
 * {@link describeApdu}, so an entry built elsewhere cannot smuggle PIN data out.
 */
export function toExportableLog(entries: readonly ApduLogEntry[]): ExportedApduLogEntry[] {
  return entries.map((e) => {
    const isRedacted =
      e.isRedacted ||
      e.command === null ||
      describeApdu(e.header).isSensitive ||
      describeApdu(e.command).isSensitive;
    return {
      id: e.id,
      at:
        e.atMs > 946_684_800_000 && e.atMs < 8_640_000_000_000
          ? new Date(e.atMs).toISOString()
          : null,
      atMs: e.atMs,
      direction: e.direction,
      name: e.name,
      header: toHex(e.header.subarray(0, 4)),
      command: isRedacted || e.command === null ? null : toHex(e.command),
      commandLength: isRedacted ? Math.min(4, e.commandLength) : e.commandLength,
      lc: isRedacted ? Math.min(e.lc, 1) : e.lc,
      hasData: e.hasData,
      le: e.le,
      response: e.response === null ? null : toHex(e.response),
      responseDataLength: e.responseDataLength,
      sw: e.sw === null ? null : formatStatusWord(e.sw),
      swText: e.swText,
      latencyMs: e.latencyMs,
      isRedacted,
      answeredBy: e.answeredBy,
      errorCode: e.errorCode ?? null,
    };
  });
}

/** `00`…`FF`, indexed by byte value. */
const HEX_BYTES = Array.from({ length: 256 }, (_, b) =>
  b.toString(16).toUpperCase().padStart(2, '0'),
);

/** Upper-case hex without separators. */
export function toHex(bytes: Uint8Array): string {
  let s = '';
  for (const b of bytes) s += HEX_BYTES[b] ?? '';
  return s;
}
