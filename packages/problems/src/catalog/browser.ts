/**
 * Problems only a web page meets: the browser's USB and WebSocket support, its permission
 * rules, the reader chooser, and the page's own form.
 */
import type { ProblemEntry } from '../types.ts';

export const BROWSER_PROBLEMS = {
  'no-webusb': {
    severity: 'error',
    title: 'This browser cannot talk to USB readers',
    cause: 'Lending a card needs WebUSB, which this browser does not offer.',
    fixes: [
      {
        text: 'Open this page in Google Chrome, Microsoft Edge or another Chromium-based browser on a computer (not a phone).',
      },
      { text: 'You can still click "Try a virtual card" to see how lending works.' },
    ],
  },
  'insecure-context': {
    severity: 'error',
    title: 'This page must be opened over https',
    cause:
      'Browsers only allow USB access on secure (https) pages, and this page was opened over plain http.',
    fixes: [{ text: 'Open the https:// version of the link you were sent.' }],
  },
  'usb-not-allowed': {
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
  },
  'chooser-cancelled': {
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
  },
  'protected-class': {
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
  },
  'device-busy': {
    severity: 'error',
    title: 'Another program is using the reader',
    cause:
      'The reader could not be taken over because another program or a system driver already holds it.',
    fixes: [
      {
        os: 'linux',
        client: 'page',
        text: 'Stop the PC/SC service (pcscd) while you lend the card, then choose the reader again. Start it again afterwards with "sudo systemctl start pcscd.socket".',
        command: 'sudo systemctl stop pcscd.socket pcscd.service',
      },
      {
        os: 'linux',
        client: 'page',
        text: 'If it still fails, your user may not be allowed to open the USB device. Allow it with a udev rule, then unplug and re-plug the reader.',
        command:
          'echo \'SUBSYSTEM=="usb", ATTRS{idVendor}=="{{vendorId}}", ATTRS{idProduct}=="{{productId}}", TAG+="uaccess"\' | sudo tee /etc/udev/rules.d/70-cardlend-reader.rules && sudo udevadm control --reload',
      },
      {
        os: 'windows',
        client: 'page',
        text: "Windows' smart card driver owns the reader. Replace it with the WinUSB driver using Zadig (zadig.akeo.ie): in Zadig choose Options → List All Devices, pick your reader, select WinUSB and click Replace Driver. Unplug and re-plug the reader, then reload this page. While WinUSB is installed, other Windows programs cannot use the reader; to undo, open Device Manager, uninstall the reader's device and re-plug it.",
      },
      {
        os: 'macos',
        client: 'page',
        text: "macOS' smart card service (com.apple.ifdreader) holds the reader. With the reader plugged in, stop the service, then choose the reader again. It starts again the next time you plug a reader in.",
        command: "sudo killall -KILL -m '.*com.apple.ifdreader'",
      },
      {
        client: 'page',
        text: 'Close other programs that use the card (PIN managers, signing tools, VPN clients), and other tabs of this page.',
      },
      {
        client: 'cli',
        text: 'Close other programs that use the card (PIN managers, signing tools, VPN clients, browser tabs lending it), then run the command again.',
      },
    ],
    defaults: { vendorId: '<vendor id>', productId: '<product id>' },
  },
  'not-ccid': {
    severity: 'error',
    title: 'This device is not a smart card reader this page can drive',
    cause: 'The chosen USB device does not speak the standard smart card reader protocol (CCID).',
    fixes: [
      { text: 'Choose the reader again and pick your smart card reader from the list.' },
      { text: 'If your reader has a vendor-specific protocol, it cannot be used here.' },
    ],
  },
  'no-websocket': {
    severity: 'error',
    title: 'This browser is too old',
    cause: 'The page needs WebSockets to reach the relay, and this browser does not offer them.',
    fixes: [{ text: 'Update your browser, or open the page in a current Chrome or Edge.' }],
  },
  'relay-url-invalid': {
    severity: 'error',
    title: 'The relay address is not valid',
    cause: '{{reason}} Nothing is lent until the address is right.',
    fixes: [
      { client: 'page', text: 'Copy the relay address again from the link you were sent.' },
      {
        client: 'cli',
        text: 'Pass the link exactly as you were sent it, in quotes (it contains characters the shell treats specially).',
      },
    ],
    defaults: { reason: 'The relay address could not be read.' },
  },
  'token-invalid': {
    severity: 'error',
    title: 'The token is not valid',
    cause: '{{reason}}',
    fixes: [
      { client: 'page', text: 'Open the link you were sent again instead of typing the token.' },
      {
        client: 'cli',
        text: 'Pass the link exactly as you were sent it, in quotes, instead of typing the token.',
      },
    ],
    defaults: { reason: 'The session token could not be read.' },
  },
} as const satisfies Record<string, ProblemEntry>;
