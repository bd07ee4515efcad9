/**
 * Pure decisions about the lent card: which ATR the VM is shown, the card state after a
 * power on, and which errors stay visible when things recover.
 */
import { parseAtr, qemu72AcceptsAtr, toQemuT0CompatibleAtr } from '@cardlend/vscard';
import type { BridgeState, BridgeCardState } from './types.ts';

/** When to announce the T=0-compatible ATR (see BridgeOptions.t0Compat). */
export type T0CompatMode = 'auto' | 'always' | 'never';

type StateError = BridgeState['error'];

/** The ATR to announce for `atr`: the card's own, or its T=0-compatible rewrite (vscard-protocol.md §4, g11). */
export function presentedAtrOf(
  atr: Uint8Array,
  mode: T0CompatMode,
): { presentedAtr: Uint8Array; isT0Compat: boolean } {
  if (mode === 'never') return { presentedAtr: atr, isT0Compat: false };
  let isT1Only: boolean;
  try {
    isT1Only = !parseAtr(atr).protocols.includes(0);
  } catch {
    return { presentedAtr: atr, isT0Compat: false }; // unparsable ATR: present it as is, QEMU decides
  }
  if (mode === 'auto' && !isT1Only) return { presentedAtr: atr, isT0Compat: false };
  try {
    const presentedAtr = toQemuT0CompatibleAtr(atr);
    const isSame = presentedAtr.length === atr.length && presentedAtr.every((b, i) => b === atr[i]);
    return { presentedAtr, isT0Compat: !isSame };
  } catch {
    return { presentedAtr: atr, isT0Compat: false };
  }
}

/** The card state of a freshly powered card (not yet announced to the VM). */
export function poweredCard(
  result: { atr: Uint8Array; protocol: 0 | 1 },
  mode: T0CompatMode,
): BridgeCardState {
  const atr = result.atr.slice();
  const { presentedAtr, isT0Compat } = presentedAtrOf(atr, mode);
  const check = qemu72AcceptsAtr(presentedAtr);
  return {
    atr,
    protocol: result.protocol,
    presentedAtr,
    isT0Compat,
    predictedRefusal: check.ok ? null : check.reason,
    vmStatus: 'not-sent',
  };
}

/** Reads a power-on result structurally (any reader's `{ atr, protocol }`). */
export function asPoweredResult(value: unknown): { atr: Uint8Array; protocol: 0 | 1 } | null {
  if (typeof value !== 'object' || value === null) return null;
  const { atr, protocol } = value as { atr?: unknown; protocol?: unknown };
  if (!(atr instanceof Uint8Array) || (protocol !== 0 && protocol !== 1)) return null;
  return { atr, protocol };
}

/** A new card clears the errors of the previous one (card errors, a refused ATR). */
export function errorAfterNewCard(error: StateError): StateError {
  return error !== null &&
    (error.code.startsWith('BRIDGE_CARD_') || error.code === 'BRIDGE_ATR_REFUSED')
    ? null
    : error;
}

/** The card-level error to keep visible when the link recovers (e.g. a mute card), else null. */
export function errorKeptOnLink(error: StateError): StateError {
  if (error === null) return null;
  return error.code === 'BRIDGE_CARD_MUTE' ||
    error.code === 'BRIDGE_CARD_PROTOCOL' ||
    error.code === 'BRIDGE_READER_ERROR'
    ? error
    : null;
}

/** The error once the card is gone: a refused ATR no longer applies; a new cause replaces the old. */
export function errorAfterCardGone(error: StateError, cause: StateError): StateError {
  if (cause !== null) return cause;
  return error?.code === 'BRIDGE_ATR_REFUSED' ? null : error;
}
