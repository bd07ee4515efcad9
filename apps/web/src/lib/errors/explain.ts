/**
 * Plain-language explanations for everything that can go wrong, keyed by what went wrong
 * (never by an exception's message text). The page shows only these texts, never a raw
 * exception. Pure: no DOM, no I/O; the caller passes the OS it detected.
 */
import type { BridgeErrorCode } from '@cardlend/bridge';
import { RelayClose } from '@cardlend/vscard';

/** Operating system families the fixes are written for. */
export type OsFamily = 'linux' | 'windows' | 'macos' | 'chromeos' | 'other';

/** What went wrong, as far as the page can tell. */
export type Failure =
  | { kind: 'no-webusb'; isSecureContext: boolean }
  | { kind: 'usb-not-allowed' }
  | { kind: 'chooser-cancelled' }
  /** A reader or card error; `code` is a `CcidError` code such as `CCID_DEVICE_BUSY`. */
  | { kind: 'reader'; code: string; vendorId?: number; productId?: number }
  /** The relay closed the WebSocket with this close code (see `RelayClose`). */
  | { kind: 'relay-closed'; closeCode: number }
  | { kind: 'relay-unreachable' }
  | { kind: 'atr-refused' }
  | { kind: 'vm-not-answering' }
  | { kind: 'no-websocket' }
  | { kind: 'relay-url-invalid'; reason: string }
  | { kind: 'token-invalid'; reason: string }
  | { kind: 'unexpected'; code?: string };

export interface Fix {
  /** One step, in plain words. */
  text: string;
  /** A command to copy, if the step is "run this". */
  command?: string;
  /** Operating system this step is for; absent = everyone. */
  os?: Exclude<OsFamily, 'other' | 'chromeos'>;
}

export type ProblemId =
  | 'no-webusb'
  | 'insecure-context'
  | 'usb-not-allowed'
  | 'chooser-cancelled'
  | 'protected-class'
  | 'device-busy'
  | 'not-ccid'
  | 'reader-gone'
  | 'reader-unsupported'
  | 'card-unreadable'
  | 'card-absent'
  | 'card-mute'
  | 'reader-error'
  | 'relay-unreachable'
  | 'token-refused'
  | 'token-used'
  | 'origin-refused'
  | 'rate-limited'
  | 'vm-in-use'
  | 'vm-unreachable'
  | 'vm-closed'
  | 'vm-protocol'
  | 'vm-not-answering'
  | 'idle-timeout'
  | 'relay-stopped'
  | 'atr-refused'
  | 'no-websocket'
  | 'relay-url-invalid'
  | 'token-invalid'
  | 'unexpected';

interface ExplanationBody {
  id: ProblemId;
  /** `info` for things the person did on purpose (closing the chooser). */
  severity: 'error' | 'info';
  /** Short headline. */
  title: string;
  /** What happened and what it means, one or two sentences. */
  cause: string;
  /** What to do, most likely first: steps for the detected OS, then steps for everyone. */
  fixes: Fix[];
  /** A stable code for the helpdesk (e.g. `CCID_DEVICE_BUSY`, `relay close 4009`), never a message. */
  reference: string;
}

export interface Explanation extends ExplanationBody {
  /** Steps for other operating systems (all OS-specific steps when the OS is unknown). */
  otherSystemFixes: Fix[];
}

const hex4 = (n: number): string => n.toString(16).padStart(4, '0');

function busyFixes(f: { vendorId?: number; productId?: number }): Fix[] {
  const udevMatch =
    f.vendorId !== undefined && f.productId !== undefined
      ? `ATTRS{idVendor}=="${hex4(f.vendorId)}", ATTRS{idProduct}=="${hex4(f.productId)}"`
      : 'ATTRS{idVendor}=="<vendor id>", ATTRS{idProduct}=="<product id>"';
  return [
    {
      os: 'linux',
      text: 'Stop the PC/SC service (pcscd) while you lend the card, then choose the reader again. Start it again afterwards with "sudo systemctl start pcscd.socket".',
      command: 'sudo systemctl stop pcscd.socket pcscd.service',
    },
    {
      os: 'linux',
      text: 'If it still fails, your user may not be allowed to open the USB device. Allow it with a udev rule, then unplug and re-plug the reader.',
      command: `echo 'SUBSYSTEM=="usb", ${udevMatch}, TAG+="uaccess"' | sudo tee /etc/udev/rules.d/70-cardlend-reader.rules && sudo udevadm control --reload`,
    },
    {
      os: 'windows',
      text: "Windows' smart card driver owns the reader. Replace it with the WinUSB driver using Zadig (zadig.akeo.ie): in Zadig choose Options → List All Devices, pick your reader, select WinUSB and click Replace Driver. Unplug and re-plug the reader, then reload this page. While WinUSB is installed, other Windows programs cannot use the reader; to undo, open Device Manager, uninstall the reader's device and re-plug it.",
    },
    {
      os: 'macos',
      text: "macOS' smart card service (com.apple.ifdreader) holds the reader. With the reader plugged in, stop the service, then choose the reader again. It starts again the next time you plug a reader in.",
      command: "sudo killall -KILL -m '.*com.apple.ifdreader'",
    },
    {
      text: 'Close other programs that use the card (PIN managers, signing tools, VPN clients), and other tabs of this page.',
    },
  ];
}

function relayClosed(closeCode: number): ExplanationBody {
  const reference = `relay close ${closeCode}`;
  switch (closeCode) {
    case RelayClose.UNAUTHORIZED:
    case RelayClose.AUTH_TIMEOUT:
      return {
        id: 'token-refused',
        severity: 'error',
        title: 'The session token was refused',
        cause: 'The relay did not accept the token: it is missing, mistyped or has expired.',
        fixes: [
          {
            text: 'Open the link you were sent again, or paste the token exactly as you received it.',
          },
          { text: 'If the link is old, ask whoever sent it for a new one.' },
        ],
        reference,
      };
    case RelayClose.TOKEN_USED:
      return {
        id: 'token-used',
        severity: 'error',
        title: 'This token was already used',
        cause: 'Each token works for one session only, and this one has been used before.',
        fixes: [{ text: 'Ask whoever sent you the link for a new one.' }],
        reference,
      };
    case RelayClose.ORIGIN_REFUSED:
      return {
        id: 'origin-refused',
        severity: 'error',
        title: 'The relay does not accept this page',
        cause:
          'The relay only talks to pages from the addresses it was set up for, and this page is not one of them.',
        fixes: [
          {
            text: 'Open the page from the link you were sent, not from a copy or another address.',
          },
        ],
        reference,
      };
    case RelayClose.RATE_LIMITED:
      return {
        id: 'rate-limited',
        severity: 'error',
        title: 'The relay is busy',
        cause: 'Too many sessions or messages reached the relay at once.',
        fixes: [{ text: 'Wait a minute, then start lending again.' }],
        reference,
      };
    case RelayClose.VM_IN_USE:
      return {
        id: 'vm-in-use',
        severity: 'error',
        title: 'Someone is already lending a card to this machine',
        cause:
          'The virtual machine accepts one card at a time, and another browser tab or computer is lending one right now.',
        fixes: [
          { text: 'Close the other tab, or click "Stop lending" there, then try again here.' },
          {
            text: "If you don't know where the other session is, ask the machine's administrator.",
          },
        ],
        reference,
      };
    case RelayClose.VM_UNREACHABLE:
      return {
        id: 'vm-unreachable',
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
        reference,
      };
    case RelayClose.VM_CLOSED:
      return {
        id: 'vm-closed',
        severity: 'error',
        title: 'The virtual machine disconnected',
        cause:
          'The virtual machine closed the connection, for example because it was shut down or restarted.',
        fixes: [{ text: 'When the machine is running again, start lending again.' }],
        reference,
      };
    case RelayClose.VM_PROTOCOL:
      return {
        id: 'vm-protocol',
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
        reference,
      };
    case RelayClose.IDLE_TIMEOUT:
      return {
        id: 'idle-timeout',
        severity: 'error',
        title: 'The session timed out',
        cause: 'Nothing happened for a long time, so the relay ended the session.',
        fixes: [{ text: 'Start lending again when you need the card.' }],
        reference,
      };
    case RelayClose.GOING_AWAY:
      return {
        id: 'relay-stopped',
        severity: 'error',
        title: 'The relay is restarting',
        cause: 'The relay service was stopped or restarted.',
        fixes: [{ text: 'Wait a moment, then start lending again.' }],
        reference,
      };
    case RelayClose.BAD_FRAME:
    case RelayClose.MESSAGE_TOO_BIG:
      return {
        id: 'unexpected',
        severity: 'error',
        title: 'The relay ended the session',
        cause:
          'The relay received something it did not expect from this page and closed the connection.',
        fixes: [
          { text: 'Reload the page and start lending again.' },
          { text: 'If it happens again, export the activity log and send it to your helpdesk.' },
        ],
        reference,
      };
    case 1006:
    case 1015:
      return relayUnreachable(reference);
    default:
      return {
        id: 'unexpected',
        severity: 'error',
        title: 'The connection to the relay ended',
        cause: 'The relay closed the connection without saying why.',
        fixes: [
          { text: 'Start lending again.' },
          { text: 'If it keeps happening, send the reference below to your helpdesk.' },
        ],
        reference,
      };
  }
}

function relayUnreachable(reference: string): ExplanationBody {
  return {
    id: 'relay-unreachable',
    severity: 'error',
    title: 'The relay cannot be reached',
    cause: 'This page could not open a connection to the relay address.',
    fixes: [
      {
        text: 'Check the relay address: it is usually in the link you were sent (it starts with wss://).',
      },
      { text: 'Check your network or VPN connection, then try again.' },
      {
        text: 'If the address is right and your network works, the relay may be down: contact whoever sent you the link.',
      },
    ],
    reference,
  };
}

function readerFailure(f: Extract<Failure, { kind: 'reader' }>): ExplanationBody {
  const reference = f.code;
  switch (f.code) {
    case 'CCID_PROTECTED_CLASS':
      return {
        id: 'protected-class',
        severity: 'error',
        title: 'The browser does not let web pages use this reader',
        cause:
          'This is a standard smart card reader (USB class 0x0B). Chrome reserves that kind of device for the operating system, so an ordinary web page may not drive it. Nothing is wrong with your reader or card.',
        fixes: [
          {
            text: 'Use a reader that presents itself as a vendor-specific device (USB class 0xFF); such readers work in this page. Your helpdesk can tell you which models do.',
          },
          {
            text: 'Or open this page in a Chrome set up to lift the block: as an Isolated Web App with the "usb-unrestricted" permission (Chrome 128 and later), or in a browser or kiosk your administrator has configured for it.',
          },
          { text: 'Or, to see how lending works, click "Try a virtual card".' },
        ],
        reference,
      };
    case 'CCID_DEVICE_BUSY':
      return {
        id: 'device-busy',
        severity: 'error',
        title: 'Another program is using the reader',
        cause:
          'The browser could not take over the reader because another program or a system driver already holds it.',
        fixes: busyFixes(f),
        reference,
      };
    case 'CCID_NOT_CCID':
    case 'CCID_BAD_DESCRIPTOR':
      return {
        id: 'not-ccid',
        severity: 'error',
        title: 'This device is not a smart card reader this page can drive',
        cause:
          'The chosen USB device does not speak the standard smart card reader protocol (CCID).',
        fixes: [
          { text: 'Choose the reader again and pick your smart card reader from the list.' },
          { text: 'If your reader has a vendor-specific protocol, it cannot be used here.' },
        ],
        reference,
      };
    case 'CCID_UNSUPPORTED':
      return {
        id: 'reader-unsupported',
        severity: 'error',
        title: 'This reader is not supported yet',
        cause:
          'The reader works in a mode this page cannot drive (for example character-level exchange).',
        fixes: [{ text: 'Use another smart card reader; most current USB readers work.' }],
        reference,
      };
    case 'CCID_BAD_ATR':
      return {
        id: 'card-unreadable',
        severity: 'error',
        title: 'The card could not be identified',
        cause: "The card's first answer (its ATR) is not in a form this page understands.",
        fixes: [
          { text: 'Take the card out and insert it again.' },
          {
            text: 'If it happens again, try another card and tell your helpdesk which card fails.',
          },
        ],
        reference,
      };
    case 'CCID_READER_GONE':
      return {
        id: 'reader-gone',
        severity: 'error',
        title: 'The reader was unplugged',
        cause: 'The reader disappeared from the computer; lending stopped.',
        fixes: [{ text: 'Plug the reader back in and choose it again.' }],
        reference,
      };
    case 'CCID_CARD_ABSENT':
      return {
        id: 'card-absent',
        severity: 'error',
        title: 'There is no card in the reader',
        cause: 'The reader reports an empty slot, or the card was pulled out while in use.',
        fixes: [
          { text: 'Insert your card (chip first, contacts facing the way the reader shows).' },
          { text: 'Lending continues by itself once the card is in.' },
        ],
        reference,
      };
    case 'CCID_CARD_MUTE':
      return {
        id: 'card-mute',
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
        reference,
      };
    default:
      return {
        id: 'reader-error',
        severity: 'error',
        title: 'The reader stopped responding properly',
        cause: 'Talking to the reader or card failed.',
        fixes: [
          { text: 'Take the card out and insert it again.' },
          {
            text: 'If that does not help, unplug the reader, plug it back in and choose it again.',
          },
        ],
        reference,
      };
  }
}

function explainFailureRaw(f: Failure): ExplanationBody {
  switch (f.kind) {
    case 'no-webusb':
      if (!f.isSecureContext) {
        return {
          id: 'insecure-context',
          severity: 'error',
          title: 'This page must be opened over https',
          cause:
            'Browsers only allow USB access on secure (https) pages, and this page was opened over plain http.',
          fixes: [{ text: 'Open the https:// version of the link you were sent.' }],
          reference: 'insecure context',
        };
      }
      return {
        id: 'no-webusb',
        severity: 'error',
        title: 'This browser cannot talk to USB readers',
        cause: 'Lending a card needs WebUSB, which this browser does not offer.',
        fixes: [
          {
            text: 'Open this page in Google Chrome, Microsoft Edge or another Chromium-based browser on a computer (not a phone).',
          },
          { text: 'You can still click "Try a virtual card" to see how lending works.' },
        ],
        reference: 'no WebUSB',
      };
    case 'usb-not-allowed':
      return {
        id: 'usb-not-allowed',
        severity: 'error',
        title: 'USB access is blocked here',
        cause:
          'The browser refused to show the reader list: this page may be embedded in another site, or USB access is switched off by a setting or by your administrator.',
        fixes: [
          {
            text: 'Open the page in its own tab, directly from the link, and click "Choose reader" again.',
          },
          {
            text: "Check the site's permissions (the icon left of the address) and allow USB devices.",
          },
        ],
        reference: 'usb not allowed',
      };
    case 'chooser-cancelled':
      return {
        id: 'chooser-cancelled',
        severity: 'info',
        title: 'No reader was chosen',
        cause: 'The reader list was closed without choosing one.',
        fixes: [
          {
            text: 'Plug in your reader and click "Choose reader" again; pick it in the list and click Connect.',
          },
          {
            text: 'If your reader is not in the list, the browser may not recognise it as a smart card reader: try another USB port or another reader.',
          },
        ],
        reference: 'chooser closed',
      };
    case 'reader':
      return readerFailure(f);
    case 'relay-closed':
      return relayClosed(f.closeCode);
    case 'relay-unreachable':
      return relayUnreachable('relay unreachable');
    case 'atr-refused':
      return {
        id: 'atr-refused',
        severity: 'error',
        title: 'The virtual machine refused this card',
        cause:
          "The virtual machine's card reader rejected the card's identification (its ATR), so it cannot use this card.",
        fixes: [
          { text: 'Try another card if you have one.' },
          {
            text: "Send the reference below and the card's ATR (shown under Card) to your helpdesk.",
          },
        ],
        reference: 'ATR refused',
      };
    case 'vm-not-answering':
      return {
        id: 'vm-not-answering',
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
        reference: 'no reply from VM',
      };
    case 'no-websocket':
      return {
        id: 'no-websocket',
        severity: 'error',
        title: 'This browser is too old',
        cause:
          'The page needs WebSockets to reach the relay, and this browser does not offer them.',
        fixes: [{ text: 'Update your browser, or open the page in a current Chrome or Edge.' }],
        reference: 'no WebSocket',
      };
    case 'relay-url-invalid':
      return {
        id: 'relay-url-invalid',
        severity: 'error',
        title: 'The relay address is not valid',
        cause: f.reason,
        fixes: [{ text: 'Copy the relay address again from the link you were sent.' }],
        reference: 'relay address',
      };
    case 'token-invalid':
      return {
        id: 'token-invalid',
        severity: 'error',
        title: 'The token is not valid',
        cause: f.reason,
        fixes: [{ text: 'Open the link you were sent again instead of typing the token.' }],
        reference: 'token format',
      };
    case 'unexpected':
      return {
        id: 'unexpected',
        severity: 'error',
        title: 'Something went wrong',
        cause: 'Lending stopped because of an error this page did not expect.',
        fixes: [
          { text: 'Reload the page and try again.' },
          {
            text: 'If it happens again, export the activity log and send it with the reference below to your helpdesk.',
          },
        ],
        reference: f.code ?? 'unexpected',
      };
  }
}

/**
 * Explain a failure. Steps for `os` come first, then steps for everyone; steps for other
 * systems are kept apart (the page shows them folded). With `os` unknown, every OS-specific
 * step is listed after the general ones.
 */
export function explainFailure(f: Failure, os: OsFamily = 'other'): Explanation {
  const e = explainFailureRaw(f);
  const isKnownOs = os === 'linux' || os === 'windows' || os === 'macos';
  const mine = e.fixes.filter((fix) => fix.os === os);
  const general = e.fixes.filter((fix) => fix.os === undefined);
  const others = e.fixes.filter((fix) => fix.os !== undefined && fix.os !== os);
  return isKnownOs
    ? { ...e, fixes: [...mine, ...general], otherSystemFixes: others }
    : { ...e, fixes: [...general, ...others], otherSystemFixes: [] };
}

/** Guess the OS from a user-agent string (only to order the fixes; never to hide any). */
export function detectOs(userAgent: string): OsFamily {
  if (/CrOS/.test(userAgent)) return 'chromeos';
  if (/Windows/.test(userAgent)) return 'windows';
  if (/Mac OS X|Macintosh/.test(userAgent)) return 'macos';
  if (/Linux|X11/.test(userAgent)) return 'linux';
  return 'other';
}

function codeOf(e: unknown): string | null {
  if (typeof e !== 'object' || e === null || !('code' in e)) return null;
  const code = (e as { code: unknown }).code;
  return typeof code === 'string' ? code : null;
}

function nameOf(e: unknown): string | null {
  if (typeof e !== 'object' || e === null || !('name' in e)) return null;
  const name = (e as { name: unknown }).name;
  return typeof name === 'string' ? name : null;
}

/**
 * Classify something thrown while choosing or opening a reader. Library errors are told
 * apart by their `code` (CcidError codes start with `CCID_`); browser errors by their
 * DOMException `name`. Never looks at message text.
 */
export function classifyError(
  e: unknown,
  device?: { vendorId: number; productId: number },
): Failure {
  const code = codeOf(e);
  if (code !== null && code.startsWith('BRIDGE_')) {
    const closeCode =
      typeof e === 'object' && e !== null && 'closeCode' in e
        ? (e as { closeCode: unknown }).closeCode
        : undefined;
    return failureFromLinkError(code, typeof closeCode === 'number' ? closeCode : undefined);
  }
  if (code !== null && code.startsWith('CCID_')) {
    return device === undefined
      ? { kind: 'reader', code }
      : { kind: 'reader', code, vendorId: device.vendorId, productId: device.productId };
  }
  switch (nameOf(e)) {
    case 'NotFoundError':
      // requestDevice: the chooser was closed without a choice.
      return { kind: 'chooser-cancelled' };
    case 'SecurityError':
      // requestDevice outside a user gesture or blocked by Permissions-Policy.
      return { kind: 'usb-not-allowed' };
    default:
      return code === null ? { kind: 'unexpected' } : { kind: 'unexpected', code };
  }
}

/**
 * Bridge error codes → what the page explains. `null`: the relay's close code (when there is
 * one) says more than the bridge code. Typed over every `BridgeErrorCode`, so a new bridge
 * code does not compile until the page can explain it.
 */
const BRIDGE_FAILURES: Readonly<Record<BridgeErrorCode, Failure | null>> = {
  BRIDGE_RELAY_CLOSED: null,
  BRIDGE_RELAY_PROTOCOL: { kind: 'relay-closed', closeCode: RelayClose.VM_PROTOCOL },
  BRIDGE_READER_REFUSED: { kind: 'unexpected', code: 'BRIDGE_READER_REFUSED' },
  BRIDGE_READER_CLOSED: { kind: 'reader', code: 'CCID_READER_GONE' },
  BRIDGE_UNSUPPORTED: { kind: 'reader', code: 'CCID_UNSUPPORTED' },
  BRIDGE_CARD_RESET: { kind: 'reader', code: 'CCID_CARD_ABSENT' },
  BRIDGE_APDU_TOO_LONG: { kind: 'reader', code: 'CCID_UNSUPPORTED' },
  BRIDGE_BAD_APDU: { kind: 'unexpected', code: 'BRIDGE_BAD_APDU' },
  BRIDGE_CANCELLED: { kind: 'unexpected', code: 'BRIDGE_CANCELLED' },
  BRIDGE_UNKNOWN: null,
  BRIDGE_RELAY_UNREACHABLE: { kind: 'relay-unreachable' },
  BRIDGE_CONNECTION_LOST: { kind: 'relay-unreachable' },
  BRIDGE_RELAY_GOING_AWAY: { kind: 'relay-closed', closeCode: RelayClose.GOING_AWAY },
  BRIDGE_BAD_FRAME: { kind: 'relay-closed', closeCode: RelayClose.BAD_FRAME },
  BRIDGE_MESSAGE_TOO_BIG: { kind: 'relay-closed', closeCode: RelayClose.MESSAGE_TOO_BIG },
  BRIDGE_UNAUTHORIZED: { kind: 'relay-closed', closeCode: RelayClose.UNAUTHORIZED },
  BRIDGE_TOKEN_USED: { kind: 'relay-closed', closeCode: RelayClose.TOKEN_USED },
  BRIDGE_ORIGIN_REFUSED: { kind: 'relay-closed', closeCode: RelayClose.ORIGIN_REFUSED },
  BRIDGE_AUTH_TIMEOUT: { kind: 'relay-closed', closeCode: RelayClose.AUTH_TIMEOUT },
  BRIDGE_RATE_LIMITED: { kind: 'relay-closed', closeCode: RelayClose.RATE_LIMITED },
  BRIDGE_VM_IN_USE: { kind: 'relay-closed', closeCode: RelayClose.VM_IN_USE },
  BRIDGE_VM_UNREACHABLE: { kind: 'relay-closed', closeCode: RelayClose.VM_UNREACHABLE },
  BRIDGE_VM_CLOSED: { kind: 'relay-closed', closeCode: RelayClose.VM_CLOSED },
  BRIDGE_VM_PROTOCOL: { kind: 'relay-closed', closeCode: RelayClose.VM_PROTOCOL },
  BRIDGE_IDLE_TIMEOUT: { kind: 'relay-closed', closeCode: RelayClose.IDLE_TIMEOUT },
  BRIDGE_VM_NOT_ANSWERING: { kind: 'vm-not-answering' },
  BRIDGE_ATR_REFUSED: { kind: 'atr-refused' },
  BRIDGE_CARD_MUTE: { kind: 'reader', code: 'CCID_CARD_MUTE' },
  BRIDGE_CARD_ABSENT: { kind: 'reader', code: 'CCID_CARD_ABSENT' },
  BRIDGE_CARD_PROTOCOL: { kind: 'reader', code: 'CCID_PROTOCOL' },
  BRIDGE_READER_GONE: { kind: 'reader', code: 'CCID_READER_GONE' },
  BRIDGE_READER_TIMEOUT: { kind: 'reader', code: 'CCID_TIMEOUT' },
  BRIDGE_READER_BUSY: { kind: 'reader', code: 'CCID_DEVICE_BUSY' },
  BRIDGE_READER_ERROR: { kind: 'reader', code: 'CCID_HARDWARE_ERROR' },
  BRIDGE_NO_WEBSOCKET: { kind: 'no-websocket' },
};

/**
 * Classify an error the bridge reports in its state (`BridgeState.error.code`, plus the
 * relay's close code when there was one). A relay close code we know wins over a generic
 * bridge code; CCID codes pass through.
 */
export function failureFromLinkError(code: string, closeCode?: number): Failure {
  const known = Object.hasOwn(BRIDGE_FAILURES, code)
    ? BRIDGE_FAILURES[code as BridgeErrorCode]
    : undefined;
  if (known !== undefined && known !== null) return known;
  if (code.startsWith('CCID_')) return { kind: 'reader', code };
  if (closeCode !== undefined && closeCode !== RelayClose.NORMAL)
    return { kind: 'relay-closed', closeCode };
  return { kind: 'unexpected', code };
}
