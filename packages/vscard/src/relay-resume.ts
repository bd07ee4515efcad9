/**
 * Resuming a lending session (issue 14 §1), part of the browser ⇄ relay contract.
 *
 * A session token opens one lending session, not one connection. A client that can resume
 * offers the marker subprotocol {@link RELAY_RESUME_CAPABILITY} (never selected, like the token
 * carrier). A relay that knows it sends, on that connection, a WebSocket **text** frame
 * `{"type":"resume","ticket":"r1.<22 base64url>","graceMs":30000}` after admission, and a fresh
 * one after every successful resume (each ticket works once). Clients that did not offer the
 * marker never get a text frame.
 *
 * When the connection drops without a close frame, the relay keeps the VM side of the session
 * for `graceMs`: the reader and the card stay in the VM (no CardRemove). A reconnect that offers
 * `cardlend.ticket.<ticket>` instead of the token within the grace is attached to the same VM
 * connection; the client then says Init, ReaderAdd and the card's ATR again, as on every
 * connection (QEMU answers each; the ATR re-announces the card). Refused with
 * {@link RelayClose} `RESUME_EXPIRED` (grace over: the card was removed), `RESUME_USED`
 * (a replay) or `RESUME_UNKNOWN` (never issued, another target or origin, or a relay that
 * restarted since).
 */
import { parseJsonObject } from './json-text-frame.ts';

/** Marker a client offers when it understands the resume message. */
export const RELAY_RESUME_CAPABILITY = 'cardlend.resume.v1';

/** Prefix of the subprotocol that carries a resume ticket: `cardlend.ticket.<ticket>`. */
export const RELAY_TICKET_SUBPROTOCOL_PREFIX = 'cardlend.ticket.';

const B64URL = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';

/** A ticket: `r1.` and 128 random bits in base64url (22 characters). */
const TICKET_SHAPE = /^r1\.[A-Za-z0-9_-]{22}$/;

/** Largest grace a client accepts from a relay (longer is clamped), ms. */
export const MAX_RESUME_GRACE_MS = 10 * 60_000;

/** The resume message the relay sends as a text frame. */
export interface ResumeOffer {
  /** The ticket to present on the next connection (once). */
  ticket: string;
  /** How long after a drop the relay keeps the session, ms. */
  graceMs: number;
}

/** Whether `s` has the shape of a resume ticket. */
export function isResumeTicket(s: string): boolean {
  return TICKET_SHAPE.test(s);
}

/** A ticket from 16 random bytes (the relay's random source). */
export function resumeTicketFromBytes(bytes: Uint8Array): string {
  if (bytes.length !== 16) throw new RangeError('a resume ticket needs 16 random bytes');
  let bits = 0;
  let value = 0;
  let out = '';
  for (const b of bytes) {
    value = ((value << 8) | b) & 0x3fff;
    bits += 8;
    while (bits >= 6) {
      bits -= 6;
      out += B64URL.charAt((value >> bits) & 63);
    }
  }
  if (bits > 0) out += B64URL.charAt((value << (6 - bits)) & 63);
  return `r1.${out}`;
}

/** The text of the resume message. */
export function encodeResumeOffer(offer: ResumeOffer): string {
  if (!isResumeTicket(offer.ticket)) throw new TypeError('not a resume ticket');
  return JSON.stringify({ type: 'resume', ticket: offer.ticket, graceMs: offer.graceMs });
}

/**
 * Reads a text frame from the relay: the resume offer, or `null` when it is anything else
 * (not JSON, another type, a bad ticket or grace). Never throws.
 */
export function parseResumeOffer(text: string): ResumeOffer | null {
  const value = parseJsonObject(text);
  if (value === null) return null;
  const { type, ticket, graceMs } = value;
  if (type !== 'resume' || typeof ticket !== 'string' || !isResumeTicket(ticket)) return null;
  if (typeof graceMs !== 'number' || !Number.isFinite(graceMs) || graceMs <= 0) return null;
  return { ticket, graceMs: Math.min(Math.floor(graceMs), MAX_RESUME_GRACE_MS) };
}

/** What a client offered about resuming (relay side, from the offered subprotocols). */
export interface OfferedResume {
  /** The client understands the resume message. */
  capable: boolean;
  /** The ticket it presents, if any (shape not checked: the relay refuses a bad one). */
  ticket: string | null;
}

/** Reads the resume marker and ticket carrier among the offered subprotocols. */
export function offeredResume(offered: Iterable<string>): OfferedResume {
  let capable = false;
  let ticket: string | null = null;
  for (const p of offered) {
    if (p === RELAY_RESUME_CAPABILITY) capable = true;
    else if (p.startsWith(RELAY_TICKET_SUBPROTOCOL_PREFIX) && ticket === null) {
      ticket = p.slice(RELAY_TICKET_SUBPROTOCOL_PREFIX.length);
    }
  }
  return { capable, ticket };
}
