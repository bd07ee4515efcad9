/**
 * Asking the person, in the helper's terminal, whether a page may use the readers: one
 * question at a time, the origin and a 6-digit code the page shows too; an origin refused is
 * not asked about again while the helper runs.
 */
import { randomInt } from 'node:crypto';
import type { HelperErrorCode } from '@cardlend/helper-protocol';
import type { Prompter } from '../ports.ts';

/** What a pairing ended with. */
export type PairingOutcome = 'approved' | HelperErrorCode;

/** A pairing in progress: the code to show, and its outcome. */
export interface PairingRequest {
  readonly code: string;
  readonly outcome: Promise<PairingOutcome>;
}

/** A fresh 6-digit pairing code. */
export function newPairingCode(): string {
  return String(randomInt(0, 1_000_000)).padStart(6, '0');
}

/** The question shown in the terminal. */
export function pairingQuestion(origin: string, code: string): string {
  return (
    `\nA web page asks to use this computer's smart-card readers:\n\n    ${origin}\n\n` +
    `The page shows the code ${code.slice(0, 3)} ${code.slice(3)}. Allow it only if you opened ` +
    `this page yourself and the codes match.\nAllow ${origin}? [y/N] `
  );
}

/** The terminal side of pairing (see the module comment). */
export class Pairing {
  readonly #prompter: Prompter | null;
  readonly #newCode: () => string;
  readonly #refused = new Set<string>();
  #isAsking = false;

  constructor(prompter: Prompter | null, newCode: () => string = newPairingCode) {
    this.#prompter = prompter;
    this.#newCode = newCode;
  }

  /**
   * Starts asking about `origin`, or says at once why not (no terminal, busy, refused
   * before). `signal` aborts the question (the page went away): outcome `HELPER_PAIRING_REFUSED`
   * without remembering the refusal.
   */
  ask(origin: string, signal: AbortSignal): PairingRequest | HelperErrorCode {
    if (this.#prompter === null) return 'HELPER_PAIRING_UNAVAILABLE';
    if (this.#refused.has(origin)) return 'HELPER_PAIRING_REFUSED';
    if (this.#isAsking) return 'HELPER_PAIRING_BUSY';
    this.#isAsking = true;
    const code = this.#newCode();
    const prompter = this.#prompter;
    const outcome = (async (): Promise<PairingOutcome> => {
      try {
        const answer = await prompter.ask(pairingQuestion(origin, code), signal);
        if (answer !== null && /^\s*y(es)?\s*$/i.test(answer)) return 'approved';
        if (!signal.aborted) this.#refused.add(origin);
        return 'HELPER_PAIRING_REFUSED';
      } finally {
        this.#isAsking = false;
      }
    })();
    return { code, outcome };
  }
}
