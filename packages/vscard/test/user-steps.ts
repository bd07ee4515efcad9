/**
 * What the user does to the lent card and its reader in the property tests (insert, remove,
 * unplug), as the page's VscardClientSession hears it.
 */
import fc from 'fast-check';
import type { SessionAction, VscardClientSession } from '../src/index.ts';

/** The ATR of the card the user inserts. */
export const USER_CARD_ATR = Uint8Array.of(0x3b, 0x02, 0x41, 0x42);

export type UserStep = 'insertCard' | 'removeCard' | 'removeReader';

/** One user step, each equally likely. */
export const arbUserStep = fc.constantFrom<UserStep>('insertCard', 'removeCard', 'removeReader');

/** The session's actions for `step` at time 0. */
export function doUserStep(session: VscardClientSession, step: UserStep): SessionAction[] {
  return step === 'insertCard' ? session.insertCard(USER_CARD_ATR, 0) : session[step](0);
}
