/**
 * Relay notices (issue 11 §4), part of the browser ⇄ relay contract: things the relay noticed
 * about the session that the page should show, e.g. `nagle-suspected` ("this VM's smart-card
 * channel adds about 42 ms per command: …"). Sent as a WebSocket **text** frame
 * `{"type":"notice","code":"nagle-suspected","message":"…","typicalStallMs":42}` only to
 * clients on the long-answers contract (`cardlend.vscard.v1.long-answers`), which understand
 * it; older clients never get one.
 */
import { parseJsonObject } from './json-text-frame.ts';

/** One notice from the relay. */
export interface RelayNotice {
  /** Stable name: `nagle-suspected`, or a later one (show `message` for unknown codes). */
  code: string;
  /** One sentence for a person (≤ 500 characters). */
  message: string;
  /** For `nagle-suspected`: the typical extra time per guest command, ms. */
  typicalStallMs?: number;
}

const MAX_MESSAGE_CHARS = 500;

/** The text frame of a notice. */
export function encodeRelayNotice(notice: RelayNotice): string {
  return JSON.stringify({
    type: 'notice',
    code: notice.code,
    message: notice.message.slice(0, MAX_MESSAGE_CHARS),
    ...(notice.typicalStallMs !== undefined ? { typicalStallMs: notice.typicalStallMs } : {}),
  });
}

/** Reads a text frame: the notice, or `null` for anything else. Never throws. */
export function parseRelayNotice(text: string): RelayNotice | null {
  const value = parseJsonObject(text);
  if (value === null) return null;
  const { type, code, message, typicalStallMs } = value;
  if (type !== 'notice' || typeof code !== 'string' || !/^[a-z0-9-]{1,64}$/.test(code)) return null;
  if (typeof message !== 'string' || message.length > MAX_MESSAGE_CHARS) return null;
  const notice: RelayNotice = { code, message };
  if (typeof typicalStallMs === 'number' && Number.isFinite(typicalStallMs) && typicalStallMs >= 0)
    notice.typicalStallMs = typicalStallMs;
  return notice;
}
