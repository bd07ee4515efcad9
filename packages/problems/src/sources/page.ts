/**
 * Conditions a client detects by itself (no error code of any package): the browser lacks
 * WebUSB or a secure context, the chooser was closed, the form holds a bad address or token,
 * or the token it sent (read, not verified) explains the relay's refusal. Each is the problem
 * of the same id; the value is the reference shown to the helpdesk.
 */
import type { ProblemId } from '../catalog/index.ts';

export const PAGE_CONDITIONS = {
  'no-webusb': 'no WebUSB',
  'insecure-context': 'insecure context',
  'usb-not-allowed': 'usb not allowed',
  'chooser-cancelled': 'chooser closed',
  // The chosen device is a class-0x0B reader, known before any driver call.
  'protected-class': 'USB class 0x0B',
  'no-websocket': 'no WebSocket',
  'relay-url-invalid': 'relay address',
  'token-invalid': 'token format',
  // Token troubles told apart by reading the token the client sent (the relay says 4001 for all).
  'token-missing': 'token missing',
  'token-malformed': 'token malformed',
  'token-expired': 'token expired',
  'token-forged': 'token forged',
  // The local helper (issue 13): nothing answered; the browser refused the loopback network.
  'helper-absent': 'no helper',
  'helper-blocked': 'local network access denied',
  // The relay saw this VM's commands stall ~40 ms each (its chardev lacks nodelay=on, issue 11 §4).
  'vm-channel-slow': 'relay notice nagle-suspected',
} as const satisfies Readonly<Partial<Record<ProblemId, string>>>;

/** A condition a client detects by itself (also the id of its problem). */
export type PageCondition = keyof typeof PAGE_CONDITIONS;
