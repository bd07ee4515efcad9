/**
 * What the page shows of the lending link, derived from the bridge's snapshot: the card, the
 * retries (of the link, and of powering the card on), resuming, and which failure (if any) a
 * snapshot stands for. Pure.
 */
import { failureFromLinkError, type Failure } from '../errors/explain.ts';
import type { LinkSnapshot } from './ports.ts';

/** The bridge's retries while the link is `reconnecting` (issue 14 §4). */
export interface ReconnectView {
  /** The attempt under way or next (1-based). */
  attempt: number;
  maxAttempts: number;
  /** When the next attempt starts (`Date.now` ms), when known. */
  nextRetryAtMs?: number;
}

/** Resuming the same lending session after a drop (issue 14 §1). */
export type ResumeView = 'resuming' | 'resumed' | 'cannot-resume' | null;

export interface CardView {
  atrHex: string;
  protocol: 0 | 1;
  /** The card was announced to the VM with a T=0 compatibility ATR. */
  isT0Compat: boolean;
  presentedAtrHex: string;
  /** The VM refused this card's ATR. */
  isRefusedByVm: boolean;
}

const toHex = (b: Uint8Array): string =>
  Array.from(b, (x) => x.toString(16).padStart(2, '0').toUpperCase()).join(' ');

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

/** The card as the page shows it, or null when the bridge has none. */
export function cardView(s: LinkSnapshot): CardView | null {
  const card = s.card;
  if (card === null) return null;
  return {
    atrHex: toHex(card.atr),
    protocol: card.protocol,
    isT0Compat: !sameBytes(card.atr, card.presentedAtr),
    presentedAtrHex: toHex(card.presentedAtr),
    isRefusedByVm: card.vmStatus === 'refused',
  };
}

/** The retry under way while the link is `reconnecting`, else null. */
export function reconnectView(s: LinkSnapshot, maxAttempts: number): ReconnectView | null {
  if (s.link !== 'reconnecting' || s.reconnectAttempt === undefined) return null;
  return {
    attempt: s.reconnectAttempt,
    maxAttempts,
    ...(s.nextRetryAtMs === undefined ? {} : { nextRetryAtMs: s.nextRetryAtMs }),
  };
}

/** The bridge powering the card on again by itself after a failure that may heal. */
export interface CardRetryView {
  /** The retry pending or running (1-based). */
  attempt: number;
  maxAttempts: number;
  /** When that retry starts (the bridge's clock, `Date.now` ms). */
  nextAtMs: number;
}

/**
 * The power-on retry a snapshot reports while lending goes on, with the last failure (held
 * back from the problem until the retries are used up), else null.
 */
export function cardRetryOf(s: LinkSnapshot): { view: CardRetryView; failure: Failure } | null {
  const retry = s.powerOnRetry;
  if (retry === undefined || s.link === 'stopped' || s.link === 'failed') return null;
  const { attempt, maxAttempts, nextAtMs, error } = retry;
  return {
    view: { attempt, maxAttempts, nextAtMs },
    failure: failureFromLinkError(error.code, undefined, error.source),
  };
}

/**
 * What the relay said about the VM's channel, as a page condition (shown in the helpdesk
 * details): `nagle-suspected` → `vm-channel-slow` with the measured stall; null otherwise.
 */
export function channelNoticeFailure(s: LinkSnapshot): Failure | null {
  const notice = s.relayNotice;
  if (notice?.code !== 'nagle-suspected') return null;
  const ms = notice.typicalStallMs;
  return ms === undefined
    ? { kind: 'page', code: 'vm-channel-slow' }
    : { kind: 'page', code: 'vm-channel-slow', reason: `about ${Math.round(ms)} ms` };
}

/**
 * The failure a snapshot stands for, or null: none for a normal stop (the person's own Stop,
 * or the relay ending the session with 1000).
 */
export function failureForSnapshot(s: LinkSnapshot, isStopping: boolean): Failure | null {
  if (s.error !== null) {
    const isNormalStop =
      s.link === 'stopped' && (s.closeCode === undefined || s.closeCode === 1000);
    if (isNormalStop && (s.error.code === 'BRIDGE_RELAY_CLOSED' || isStopping)) return null;
    return failureFromLinkError(s.error.code, s.closeCode, s.error.source);
  }
  if (s.link === 'refused')
    return s.card === null ? { kind: 'unexpected', code: 'refused' } : { kind: 'atr-refused' };
  if (
    (s.link === 'failed' || s.link === 'stopped') &&
    s.closeCode !== undefined &&
    s.closeCode !== 1000
  ) {
    return { kind: 'relay-closed', closeCode: s.closeCode };
  }
  return null;
}
