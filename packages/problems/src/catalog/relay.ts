/**
 * Problems on the way to the virtual machine: the relay, the session token, the VM and its
 * card reader, and the catch-all for what nobody expected.
 */
import type { ProblemEntry } from '../types.ts';

export const RELAY_PROBLEMS = {
  'relay-unreachable': {
    severity: 'error',
    title: 'The relay cannot be reached',
    cause: 'No connection to the relay address could be opened, or it dropped.',
    fixes: [
      {
        text: 'Check the relay address: it is usually in the link you were sent (it starts with wss://).',
      },
      { text: 'Check your network or VPN connection, then try again.' },
      {
        text: 'If the address is right and your network works, the relay may be down: contact whoever sent you the link.',
      },
    ],
  },
  'relay-stopped': {
    severity: 'error',
    title: 'The relay is restarting',
    cause: 'The relay service was stopped or restarted.',
    fixes: [{ text: 'Wait a moment, then start lending again.' }],
  },
  'relay-protocol': {
    severity: 'error',
    title: 'The relay sent something unexpected',
    cause:
      'A message from the relay does not follow the card protocol: the address may point to something other than a cardlend relay, or to a relay of another version.',
    fixes: [
      { text: 'Check that the relay address is the one in the link you were sent.' },
      { client: 'page', text: 'Reload the page and start lending again.' },
      { client: 'cli', text: 'Check that this cardlend is the version your helpdesk asks for.' },
      { text: 'If it happens again, send the reference below to your helpdesk.' },
    ],
  },
  'relay-rejected-message': {
    severity: 'error',
    title: 'The relay ended the session',
    cause: 'The relay received a message it did not accept and closed the connection.',
    fixes: [
      { client: 'page', text: 'Reload the page and start lending again.' },
      {
        client: 'page',
        text: 'If it happens again, export the activity log and send it to your helpdesk.',
      },
      { client: 'cli', text: 'Run the command again.' },
      {
        client: 'cli',
        text: 'If it happens again, run it with --json and send the output to your helpdesk.',
      },
    ],
  },
  'session-ended': {
    severity: 'info',
    title: 'The relay ended the session',
    cause: 'The relay closed the session normally.',
    fixes: [{ text: 'Start lending again if you still need the card in the virtual machine.' }],
  },
  'origin-refused': {
    severity: 'error',
    title: 'The relay does not accept this page',
    cause:
      'The relay only talks to pages from the addresses it was set up for, and this page is not one of them.',
    fixes: [
      { text: 'Open the page from the link you were sent, not from a copy or another address.' },
    ],
  },
  'rate-limited': {
    severity: 'error',
    title: 'The relay is busy',
    cause: 'Too many sessions or messages reached the relay at once.',
    fixes: [{ text: 'Wait a minute, then start lending again.' }],
  },
  'idle-timeout': {
    severity: 'error',
    title: 'The session timed out',
    cause: 'Nothing happened for a long time, so the relay ended the session.',
    fixes: [{ text: 'Start lending again when you need the card.' }],
  },
  'vm-in-use': {
    severity: 'error',
    title: 'Someone is already lending a card to this machine',
    cause:
      'The virtual machine accepts one card at a time, and another browser tab, computer or cardlend command is lending one right now.',
    fixes: [
      {
        client: 'page',
        text: 'Close the other tab, or click "Stop lending" there, then try again here.',
      },
      {
        client: 'cli',
        text: 'Stop the other session (click "Stop lending" in its tab, or press Ctrl-C in its terminal), then run the command again.',
      },
      { text: "If you don't know where the other session is, ask the machine's administrator." },
    ],
  },
  'vm-unreachable': {
    severity: 'error',
    title: 'The virtual machine cannot be reached',
    cause:
      'The relay is running but could not connect to the virtual machine: it may be switched off or not set up for a smart card.',
    fixes: [
      { text: 'Make sure the virtual machine is running, then try again.' },
      {
        text: 'If it is running, ask its administrator to check the smart card setting (ccid-card-passthru).',
      },
    ],
  },
  'vm-closed': {
    severity: 'error',
    title: 'The virtual machine disconnected',
    cause:
      'The virtual machine closed the connection, for example because it was shut down or restarted.',
    fixes: [{ text: 'When the machine is running again, start lending again.' }],
  },
  'vm-protocol': {
    severity: 'error',
    title: 'The virtual machine stopped answering',
    cause:
      "The virtual machine's card reader stopped answering properly, so lending was stopped to keep it safe.",
    fixes: [
      { text: 'Start lending again.' },
      {
        text: "If it happens again, ask the machine's administrator to re-add its smart card device or restart the machine.",
      },
    ],
  },
  'vm-not-answering': {
    severity: 'error',
    title: 'The virtual machine does not answer',
    cause:
      "The connection is open, but the virtual machine's card reader did not reply in time. It may be busy with another session or stuck.",
    fixes: [
      { text: 'Stop lending, wait a few seconds and start again.' },
      {
        text: "If it happens again, ask the machine's administrator to re-add its smart card device or restart the machine.",
      },
    ],
  },
  'vm-reader-refused': {
    severity: 'error',
    title: 'The virtual machine has no free card reader',
    cause:
      'The virtual machine refused to add the card reader: its smart card device has no free slot, or is set up differently.',
    fixes: [
      {
        text: "Ask the machine's administrator to add a smart card device for lending (usb-ccid with ccid-card-passthru).",
      },
    ],
  },
  'atr-refused': {
    severity: 'error',
    title: 'The virtual machine refused this card',
    cause:
      "The virtual machine's card reader rejected the card's identification (its ATR), so it cannot use this card.",
    fixes: [
      { text: 'Try another card if you have one.' },
      {
        client: 'page',
        text: "Send the reference below and the card's ATR (shown under Card) to your helpdesk.",
      },
      {
        client: 'cli',
        text: "Send the reference below and the card's ATR (cardlend readers shows it) to your helpdesk.",
      },
    ],
  },
  unexpected: {
    severity: 'error',
    title: 'Something went wrong',
    cause: 'Lending stopped because of an error that was not expected.',
    bySource: {
      'relay-close': {
        title: 'The connection to the relay ended',
        cause: 'The relay closed the connection without saying why.',
      },
    },
    fixes: [
      { client: 'page', text: 'Reload the page and try again.' },
      {
        client: 'page',
        text: 'If it happens again, export the activity log and send it with the reference below to your helpdesk.',
      },
      { client: 'cli', text: 'Run the command again.' },
      {
        client: 'cli',
        text: 'If it happens again, run it with --json and send the output with the reference below to your helpdesk.',
      },
    ],
  },
} as const satisfies Record<string, ProblemEntry>;
