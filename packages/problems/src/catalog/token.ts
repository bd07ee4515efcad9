/**
 * Problems with the session link and its token. The relay refuses every bad token with one
 * close code (4001); a client that can read the token it sent (its unverified payload) tells
 * the person which kind of trouble it is: none, unreadable, expired, or not valid here.
 */
import type { ProblemEntry } from '../types.ts';

const ASK_AGAIN = { text: 'Ask whoever sent you the link for a new one.' } as const;

export const TOKEN_PROBLEMS = {
  'token-refused': {
    severity: 'error',
    title: 'The session token was refused',
    cause: 'The relay did not accept the token: it is missing, mistyped or has expired.',
    fixes: [
      {
        client: 'page',
        text: 'Open the link you were sent again, or paste the token exactly as you received it.',
      },
      {
        client: 'cli',
        text: 'Run the command again with the link exactly as you received it, in quotes.',
      },
      { text: 'If the link is old, ask whoever sent it for a new one.' },
    ],
  },
  'token-used': {
    severity: 'error',
    title: 'This token was already used',
    cause: 'Each token works for one session only, and this one has been used before.',
    fixes: [{ text: 'Ask whoever sent you the link for a new one.' }],
  },
  'token-missing': {
    severity: 'error',
    title: 'This relay needs a session link',
    cause:
      'The relay only lends to a virtual machine when the page was opened from a link with a session token, and this page has none.',
    fixes: [
      { client: 'page', text: 'Open the link your helpdesk sent you (it ends with #token=…).' },
      {
        client: 'cli',
        text: 'Run the command with the link your helpdesk sent you (it ends with #token=…), in quotes.',
      },
      { text: 'If you have no link, ask your helpdesk for one.' },
    ],
  },
  'token-malformed': {
    severity: 'error',
    title: 'This link is damaged',
    cause:
      'The session token in the link cannot be read: part of it is probably missing, for example because the link was split over two lines when it was copied.',
    fixes: [
      {
        client: 'page',
        text: 'Open the link again from the message you got, by clicking it instead of copying it.',
      },
      { client: 'cli', text: 'Copy the whole link again and pass it in quotes.' },
      ASK_AGAIN,
    ],
  },
  'token-expired': {
    severity: 'error',
    title: 'This link has expired',
    cause: 'Session links work for a limited time, and this one stopped working at {{expiredAt}}.',
    fixes: [ASK_AGAIN],
    defaults: { expiredAt: 'the end of its validity' },
  },
  'token-forged': {
    severity: 'error',
    title: 'This link is not valid for this relay',
    cause:
      'The relay did not accept the session token: it was not issued for this relay, or it was changed after it was issued.',
    fixes: [
      { client: 'page', text: 'Open the link exactly as you were sent it, without changing it.' },
      {
        client: 'cli',
        text: 'Pass the link exactly as you were sent it, in quotes, without changing it.',
      },
      ASK_AGAIN,
    ],
  },
} as const satisfies Record<string, ProblemEntry>;
