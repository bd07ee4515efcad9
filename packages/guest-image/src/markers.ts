/**
 * Host-side reading of the marker lines the guest's /init prints on the serial console
 * (grammar in init-script.ts). Pure: text in, values out.
 */

/** Marker kinds printed by the guest. */
export const MarkerKind = {
  /** /init started (first thing it does). */
  Boot: 'BOOT',
  /** A boot step finished: `name` = reader | pcscd | card | watching. */
  Stage: 'STAGE',
  /** A scenario result: `name`, `ok` (`1`/`0`), scenario fields. */
  Result: 'RESULT',
  /** A state change seen by the `watch` scenario: `state` = present | empty, `atr`. */
  Event: 'EVENT',
  /** The scenario finished; the guest powers off next. */
  Done: 'DONE',
} as const;
export type MarkerKind = (typeof MarkerKind)[keyof typeof MarkerKind];

/** One parsed marker line. */
export interface GuestMarker {
  kind: MarkerKind;
  /** `key=value` fields (without `t`). */
  fields: Readonly<Record<string, string>>;
  /** Guest uptime when printed, seconds (10 ms resolution, from /proc/uptime). */
  guestTimeS: number;
}

const KINDS = new Set<string>(Object.values(MarkerKind));
const MARKER = /CARDLEND-([A-Z]+)((?: [a-z0-9_]+=\S*)*)\s*$/;

/**
 * Parses one serial line; returns null for anything that is not a well-formed marker
 * (kernel messages, program output). Tolerates a CR and text before the marker (a kernel
 * message can share the line).
 */
export function parseMarkerLine(line: string): GuestMarker | null {
  const m = MARKER.exec(line.replace(/\r/g, ''));
  if (!m || !KINDS.has(m[1] ?? '')) return null;
  const fields: Record<string, string> = {};
  for (const word of (m[2] ?? '').trim().split(' ')) {
    if (word === '') continue;
    const eq = word.indexOf('=');
    fields[word.slice(0, eq)] = word.slice(eq + 1);
  }
  const t = Number(fields['t']);
  delete fields['t'];
  return { kind: m[1] as MarkerKind, fields, guestTimeS: Number.isFinite(t) ? t : Number.NaN };
}

/** Decodes a lower- or upper-case hex string (as the guest prints) into bytes. */
export function hexToBytes(hex: string): Uint8Array {
  if (hex.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(hex)) throw new RangeError('not a hex string');
  const out = new Uint8Array(hex.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(hex.slice(2 * i, 2 * i + 2), 16);
  return out;
}

/** Lower-case hex of bytes. */
export function bytesToHex(bytes: Uint8Array): string {
  let s = '';
  for (const b of bytes) s += b.toString(16).padStart(2, '0');
  return s;
}
