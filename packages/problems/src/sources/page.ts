/**
 * Conditions a client detects by itself (no error code of any package): the browser lacks
 * WebUSB or a secure context, the chooser was closed, the form holds a bad address or token,
 * or the token it sent (read, not verified) explains the relay's refusal.
 * Each has its problem and the reference shown to the helpdesk.
 */
import type { ProblemId } from '../catalog/index.ts';

export const PAGE_CONDITIONS = {
  'no-webusb': { problem: 'no-webusb', reference: 'no WebUSB' },
  'insecure-context': { problem: 'insecure-context', reference: 'insecure context' },
  'usb-not-allowed': { problem: 'usb-not-allowed', reference: 'usb not allowed' },
  'chooser-cancelled': { problem: 'chooser-cancelled', reference: 'chooser closed' },
  // The chosen device is a class-0x0B reader, known before any driver call.
  'protected-class': { problem: 'protected-class', reference: 'USB class 0x0B' },
  'no-websocket': { problem: 'no-websocket', reference: 'no WebSocket' },
  'relay-url-invalid': { problem: 'relay-url-invalid', reference: 'relay address' },
  'token-invalid': { problem: 'token-invalid', reference: 'token format' },
  // Token troubles told apart by reading the token the client sent (the relay says 4001 for all).
  'token-missing': { problem: 'token-missing', reference: 'token missing' },
  'token-malformed': { problem: 'token-malformed', reference: 'token malformed' },
  'token-expired': { problem: 'token-expired', reference: 'token expired' },
  'token-forged': { problem: 'token-forged', reference: 'token forged' },
} as const satisfies Readonly<Record<string, { problem: ProblemId; reference: string }>>;

/** A condition a client detects by itself. */
export type PageCondition = keyof typeof PAGE_CONDITIONS;
