/**
 * Problems with the reader, the card, or the computer's smart card service (PC/SC), the same
 * for a reader driven by the page over WebUSB and one reached through the operating system.
 */
import type { ProblemEntry } from '../types.ts';

export const READER_PROBLEMS = {
  'reader-gone': {
    severity: 'error',
    title: 'The reader was unplugged',
    cause: 'The reader disappeared from the computer; lending stopped.',
    fixes: [
      { client: 'page', text: 'Plug the reader back in and choose it again.' },
      { client: 'cli', text: 'Plug the reader back in and run the command again.' },
    ],
  },
  'reader-unsupported': {
    severity: 'error',
    title: 'This reader is not supported yet',
    cause:
      'The reader or card needs something cardlend cannot do yet: for example a character-level reader, or commands longer than the reader accepts (extended APDUs).',
    fixes: [{ text: 'Use another smart card reader; most current USB readers work.' }],
  },
  'reader-error': {
    severity: 'error',
    title: 'The reader stopped responding properly',
    cause: 'Talking to the reader or card failed.',
    fixes: [
      { text: 'Take the card out and insert it again.' },
      {
        client: 'page',
        text: 'If that does not help, unplug the reader, plug it back in and choose it again.',
      },
      {
        client: 'cli',
        text: 'If that does not help, unplug the reader, plug it back in and run the command again.',
      },
    ],
  },
  'reader-in-use': {
    severity: 'error',
    title: 'Another program is using the card',
    cause:
      'Another program on this computer has the card open for itself, so it cannot be lent right now.',
    fixes: [
      {
        text: 'Close other programs that use the card (PIN managers, signing tools, VPN clients, a browser signed in with the card), then try again.',
      },
      {
        os: 'windows',
        text: 'If you do not know which program it is, sign out of Windows and back in, or restart the computer.',
      },
    ],
  },
  'reader-not-found': {
    severity: 'error',
    title: 'That reader is not connected',
    cause: 'No reader with that name is known to the smart card service right now.',
    fixes: [
      { text: 'Check that the reader is plugged in.' },
      {
        client: 'cli',
        text: 'List the readers the computer knows, then pass part of one name with --reader.',
        command: 'cardlend readers',
      },
    ],
  },
  'no-readers': {
    severity: 'error',
    title: 'No smart card reader found',
    cause: "The computer's smart card service does not see any reader.",
    fixes: [
      { text: 'Plug in your smart card reader, wait a few seconds and try again.' },
      {
        os: 'linux',
        text: 'If the reader is plugged in, your reader may need a driver: install the CCID driver and restart the smart card service.',
        command: 'sudo apt install libccid && sudo systemctl restart pcscd.socket',
      },
    ],
  },
  'service-down': {
    severity: 'error',
    title: "The computer's smart card service is not running",
    cause:
      "Programs reach smart card readers through the operating system's smart card service (PC/SC), and it is not running or was just restarted. Lending resumes by itself once it is back.",
    fixes: [
      {
        os: 'linux',
        text: 'Start the PC/SC service, then try again.',
        command: 'sudo systemctl start pcscd.socket',
      },
      {
        os: 'windows',
        text: 'Windows stops its Smart Card service when no reader is plugged in: plug in your reader and wait a few seconds. If it still fails, start the service.',
        command: 'sc start SCardSvr',
      },
      {
        os: 'macos',
        text: 'Unplug the reader and plug it in again; macOS starts its smart card service when a reader appears.',
      },
    ],
  },
  'service-refused': {
    severity: 'error',
    title: 'The smart card service refused access',
    cause: "Your user account may not use the computer's smart card service.",
    fixes: [
      {
        os: 'linux',
        text: 'pcscd only serves users of the local desktop session by default (polkit). Run the command from the desktop session, not over SSH, or ask your administrator to allow your account.',
      },
      { text: 'Ask your administrator whether smart card access is restricted on this computer.' },
    ],
  },
  'card-absent': {
    severity: 'error',
    title: 'There is no card in the reader',
    cause: 'The reader reports an empty slot, or the card was pulled out while in use.',
    fixes: [
      { text: 'Insert your card (chip first, contacts facing the way the reader shows).' },
      { text: 'Lending continues by itself once the card is in.' },
    ],
  },
  'card-reset': {
    severity: 'error',
    title: 'The card was reset',
    cause:
      'Another program on this computer reset the card while it was lent, or the card was re-inserted. Programs in the virtual machine may have to log in to the card again.',
    fixes: [
      { text: 'Close other programs that use the card while you lend it.' },
      { text: 'Lending continues by itself: the card is announced to the virtual machine again.' },
    ],
  },
  'card-mute': {
    severity: 'error',
    title: 'The card does not answer',
    cause:
      'A card is in the reader but does not respond: it may be inserted the wrong way round, dirty or damaged, or it may not be a chip card.',
    fixes: [
      { text: 'Take the card out, check which way it goes in, and insert it again firmly.' },
      { text: 'Wipe the gold contacts gently with a dry cloth.' },
      {
        text: 'If another card works in this reader, this card may be damaged: contact whoever issued it.',
      },
    ],
  },
  'card-unreadable': {
    severity: 'error',
    title: 'The card could not be identified',
    cause: "The card's first answer (its ATR) is not in a form cardlend understands.",
    fixes: [
      { text: 'Take the card out and insert it again.' },
      { text: 'If it happens again, try another card and tell your helpdesk which card fails.' },
    ],
  },
} as const satisfies Record<string, ProblemEntry>;
