/**
 * What the page says about the local helper: how to start it, the browser's Local Network
 * Access permission, and every refusal code of the helper (@cardlend/helper-protocol), in
 * plain words. Pure data.
 */
import type { HelperErrorCode } from '@cardlend/helper-protocol';

/** One explanation: a title and what to do. */
export interface HelperText {
  readonly title: string;
  readonly fix: string;
}

/** How to start the helper on each system. */
export const HELPER_START = {
  npx: 'npx cardlend serve',
  text:
    'Readers this browser cannot use directly (most standard readers, and every reader on Windows) ' +
    'work through the cardlend helper, a small program you run on this computer. Start it once ' +
    'in a terminal with "npx cardlend serve" (Node.js 20 or later), or download the single-file ' +
    '"cardlend" program for Windows, macOS or Linux and run "cardlend serve". Then click "Look for the helper".',
} as const;

/** The browser's Local Network Access permission. */
export const LNA_TEXTS = {
  prompt:
    'Your browser will ask whether this site may "access other apps and services on this device". ' +
    'Allow it: that is how this page reaches the helper on your computer.',
  denied: {
    title: 'The browser blocks this page from reaching the helper',
    fix:
      'You (or a policy) refused this site access to apps on this device. To undo it, click the ' +
      'site controls left of the address bar, open "Site settings", set "Local network access" ' +
      '(or "Apps on device") to Allow, and reload the page. An administrator can allow it for ' +
      'everyone with the LocalNetworkAccessAllowedForUrls policy.',
  },
} as const satisfies Record<string, unknown>;

/** The helper's refusals, by code. */
export const HELPER_CODE_TEXTS: { readonly [C in HelperErrorCode]: HelperText } = {
  HELPER_ORIGIN_MISSING: {
    title: 'The helper did not recognise this page',
    fix: 'Open the page from its https address and look for the helper again.',
  },
  HELPER_ORIGIN_NOT_APPROVED: {
    title: 'This page is not approved by the helper yet',
    fix: 'Click "Ask the helper to approve this page" and answer in the helper\'s terminal.',
  },
  HELPER_PAIRING_REFUSED: {
    title: 'The helper was told not to trust this page',
    fix: 'If that was a mistake, stop the helper (Ctrl-C), start it again and approve the page when it asks.',
  },
  HELPER_PAIRING_BUSY: {
    title: 'The helper is already asking about another page',
    fix: "Answer the question in the helper's terminal first, then try again.",
  },
  HELPER_PAIRING_UNAVAILABLE: {
    title: 'The helper cannot ask for approval',
    fix:
      'It runs without a terminal. Start it in a terminal, or with --allow-origin and this ' +
      "page's address (what an administrator deploys).",
  },
  HELPER_ORIGIN_INSECURE: {
    title: 'Only https pages can use the helper',
    fix: 'Open this page from its https address.',
  },
  HELPER_TOO_MANY_CONNECTIONS: {
    title: 'The helper is serving too many pages',
    fix: 'Close other cardlend tabs and look for the helper again.',
  },
  HELPER_MESSAGE_TOO_LARGE: {
    title: 'The helper refused a message that was too large',
    fix: 'Reload the page. If it happens again, export the activity log for your helpdesk.',
  },
  HELPER_MALFORMED: {
    title: 'The helper and this page did not understand each other',
    fix: 'Update the helper (npx cardlend serve fetches the current one) and reload the page.',
  },
  HELPER_RATE_LIMITED: {
    title: 'The helper stopped a flood of messages from this page',
    fix: 'Reload the page. If it happens again, export the activity log for your helpdesk.',
  },
  HELPER_TOO_MANY_REQUESTS: {
    title: 'The helper had too many unanswered requests from this page',
    fix: 'Reload the page.',
  },
  HELPER_VERSION: {
    title: 'The helper speaks another version',
    fix: 'Update the helper (npx cardlend serve fetches the current one) and reload the page.',
  },
  HELPER_READER_IN_USE: {
    title: 'Another page uses this reader through the helper',
    fix: 'Stop lending in the other tab (or close it), then try again.',
  },
  HELPER_UNKNOWN_READER: {
    title: 'The helper no longer sees this reader',
    fix: 'Check that the reader is plugged in, then look for the helper again.',
  },
  HELPER_NOT_CONNECTED: {
    title: 'The helper let go of this reader',
    fix: 'Choose the reader again.',
  },
  HELPER_NO_SERVICE: {
    title: "The computer's smart-card service is not running",
    fix:
      'Linux: start pcscd (sudo systemctl start pcscd.socket). Windows: plug a reader in; the ' +
      'Smart Card service starts with it. Then look for the helper again.',
  },
  HELPER_STOPPING: {
    title: 'The cardlend helper stopped',
    fix:
      'The virtual machine saw the card removed. Start the helper again (npx cardlend serve) and ' +
      'choose the reader again to keep lending.',
  },
  HELPER_INTERNAL: {
    title: 'The helper failed',
    fix: "Look at the helper's terminal for the reason, then try again.",
  },
};
