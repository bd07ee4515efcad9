/**
 * What the page says about lending, derived from the lending state in one place (issue 14
 * §3, §4, §9): the phase, the tab title, the one short sentence for the live region, the
 * amber "retrying (n of N)" while the bridge retries by itself, and whether the red notice
 * may show (only once retrying has ended). Pure.
 */
import type { LinkState } from '../state/ports.ts';

export type Activity = 'idle' | 'choosing' | 'opening' | 'lending' | 'stopping';

/** Where lending stands, as the person should understand it. */
export type Phase =
  | 'ready'
  | 'choosing'
  | 'opening'
  | 'connecting'
  /** The VM has the reader and the card. */
  | 'lent'
  /** The VM has the reader but no card (none in the reader, pulled out, or not yet acknowledged). */
  | 'lent-no-card'
  /** The VM refused the card. */
  | 'card-refused'
  /** The connection dropped; the bridge retries by itself. */
  | 'reconnecting'
  | 'stopping'
  /** Lending ended (Stop, or a problem). */
  | 'ended';

/** Resuming the same lending session after a reconnect (issue 14 §1; reported by the bridge). */
export type ResumeState = 'resuming' | 'resumed' | 'cannot-resume' | null;

export interface PageViewInput {
  activity: Activity;
  link: LinkState;
  /** The card as the VM sees it: null = no card; else whether the VM acknowledged it. */
  card: { vmStatus: 'not-sent' | 'pending' | 'accepted' | 'refused' | undefined } | null;
  /** Retry in progress (see {@link trackRetry}), or null. */
  retry: Retry | null;
  hasProblem: boolean;
  /** The VM's name from the token, or null. */
  vm: string | null;
  resume: ResumeState;
  /**
   * The bridge is powering the card on again by itself (its last try failed in a way that may
   * heal): the card is in the reader but not lent yet. Absent: false.
   */
  isCardRetrying?: boolean;
}

export interface Retry {
  attempt: number;
  maxAttempts: number;
}

export interface PageView {
  phase: Phase;
  /** Stop lending is offered (the sticky bar shows). */
  isLending: boolean;
  /** document.title */
  title: string;
  /** One short sentence for the live region. */
  sentence: string;
  /** The bar's headline, e.g. "Lent to lab-1". */
  headline: string;
  /** The amber text next to Stop while retrying, or null. */
  retryText: string | null;
  /** The red notice may show: never while the bridge still retries by itself. */
  mayShowProblem: boolean;
}

export const PAGE_TITLE = 'cardlend — lend your smart card to a virtual machine';

function lendingPhase(i: PageViewInput): Phase {
  if (i.activity === 'stopping') return 'stopping';
  if (i.retry !== null && (i.link === 'reconnecting' || i.link === 'connecting'))
    return 'reconnecting';
  switch (i.link) {
    case 'idle':
    case 'connecting':
      return 'connecting';
    case 'reconnecting':
      return 'reconnecting';
    case 'refused':
      return i.card === null ? 'ended' : 'card-refused';
    case 'stopped':
    case 'failed':
      return 'ended';
    case 'lent':
      if (i.card === null) return 'lent-no-card';
      if (i.card.vmStatus === 'refused') return 'card-refused';
      return i.card.vmStatus === 'accepted' || i.card.vmStatus === undefined
        ? 'lent'
        : 'lent-no-card';
  }
}

/** The phase for any activity. */
export function phaseOf(i: PageViewInput): Phase {
  switch (i.activity) {
    case 'choosing':
      return 'choosing';
    case 'opening':
      return 'opening';
    case 'idle':
      return i.link === 'idle' ? 'ready' : 'ended';
    default:
      return lendingPhase(i);
  }
}

export function retryText(retry: Retry): string {
  const of = Number.isFinite(retry.maxAttempts) ? ` of ${retry.maxAttempts}` : '';
  return `Connection lost, retrying (${retry.attempt}${of})`;
}

function texts(
  phase: Phase,
  i: PageViewInput,
): { headline: string; sentence: string; title: string } {
  const vm = i.vm ?? 'the virtual machine';
  const short = i.vm ?? 'VM';
  switch (phase) {
    case 'ready':
      return { headline: '', sentence: '', title: PAGE_TITLE };
    case 'choosing':
      return { headline: '', sentence: 'Waiting for you to choose a reader.', title: PAGE_TITLE };
    case 'opening':
      return { headline: '', sentence: 'Opening the reader.', title: PAGE_TITLE };
    case 'connecting':
      return {
        headline: `Connecting to ${vm}…`,
        sentence: `Connecting to ${vm}.`,
        title: `Connecting… · cardlend`,
      };
    case 'lent':
      return {
        headline: `Lent to ${vm}`,
        sentence: `Your card is lent to ${vm}.`,
        title: `Lent to ${short} · cardlend`,
      };
    case 'lent-no-card':
      // The attempt count changes every second or two: it stays in the Card row, out of the
      // live sentence, as the reconnect count does.
      if (i.isCardRetrying === true)
        return {
          headline: `Reader lent to ${vm}, card not ready yet`,
          sentence: `The reader is lent to ${vm}; the card is not ready yet, trying again by itself.`,
          title: `Lent to ${short}, card not ready · cardlend`,
        };
      return {
        headline: `Reader lent to ${vm}, no card`,
        sentence: `The reader is lent to ${vm}, without a card.`,
        title: `Lent to ${short}, no card · cardlend`,
      };
    case 'card-refused':
      return {
        headline: `${i.vm ?? 'The virtual machine'} refused the card`,
        sentence: `${i.vm ?? 'The virtual machine'} refused the card.`,
        title: `Card refused · cardlend`,
      };
    case 'reconnecting':
      // The count changes every few seconds: it stays beside Stop, out of the live sentence,
      // so a screen reader hears this once rather than on every try.
      return {
        headline: `Reconnecting to ${vm}…`,
        sentence:
          i.resume === 'resuming'
            ? 'Reconnecting to the same session.'
            : 'Connection lost, retrying by itself.',
        title: `Reconnecting… · cardlend`,
      };
    case 'stopping':
      return { headline: 'Stopping…', sentence: 'Stopping.', title: 'Stopping… · cardlend' };
    case 'ended':
      return i.hasProblem
        ? {
            headline: '',
            sentence: 'Lending stopped after a problem.',
            title: `Stopped · cardlend`,
          }
        : { headline: '', sentence: 'Lending stopped.', title: PAGE_TITLE };
  }
}

export function pageView(i: PageViewInput): PageView {
  const phase = phaseOf(i);
  const isLending = i.activity === 'lending' || i.activity === 'stopping';
  const t = texts(phase, i);
  return {
    phase,
    isLending,
    ...t,
    retryText: phase === 'reconnecting' && i.retry !== null ? retryText(i.retry) : null,
    mayShowProblem: phase !== 'reconnecting' && !(phase === 'connecting' && i.retry !== null),
  };
}

/**
 * Follows the bridge's retries across snapshots: an attempt number while it reconnects (the
 * bridge's `reconnectAttempt`, or counted when it gives none), kept through the retry's
 * `connecting`, cleared once lent again or once lending ends.
 */
export function trackRetry(
  prev: Retry | null,
  s: { activity: Activity; link: LinkState; reconnectAttempt?: number | undefined },
  maxAttempts: number,
): Retry | null {
  if (s.activity !== 'lending') return null;
  if (s.link === 'reconnecting') {
    const attempt = s.reconnectAttempt ?? (prev === null ? 1 : prev.attempt);
    if (prev !== null && prev.attempt === attempt && prev.maxAttempts === maxAttempts) return prev;
    return { attempt, maxAttempts };
  }
  if (s.link === 'connecting') return prev;
  return null;
}
