/**
 * Plain-language meaning of a response status word SW1-SW2 (ISO/IEC 7816-4:2020 §5.6,
 * tables 5 and 6), for the live APDU view.
 */

const EXACT: Readonly<Record<number, string>> = {
  0x9000: 'Success',
  0x6200: 'Warning: state unchanged, no information given',
  0x6281: 'Warning: part of the returned data may be corrupted',
  0x6282: 'Warning: end of file or record reached before reading Ne bytes',
  0x6283: 'Warning: selected file deactivated',
  0x6284: 'Warning: file control information not formatted',
  0x6285: 'Warning: selected file in termination state',
  0x6286: 'Warning: no input data available from a sensor on the card',
  0x6300: 'Warning: state changed, no information given (e.g. verification failed)',
  0x6381: 'Warning: file filled up by the last write',
  0x6400: 'Error: state unchanged, execution error',
  0x6401: 'Error: immediate response required by the card',
  0x6500: 'Error: state changed, no information given',
  0x6581: 'Error: memory failure',
  0x6600: 'Error: security-related issue',
  0x6700: 'Wrong length',
  0x6800: 'Function in CLA not supported',
  0x6881: 'Logical channel not supported',
  0x6882: 'Secure messaging not supported',
  0x6883: 'Last command of the chain expected',
  0x6884: 'Command chaining not supported',
  0x6900: 'Command not allowed',
  0x6981: 'Command incompatible with file structure',
  0x6982: 'Security status not satisfied (PIN or authentication required)',
  0x6983: 'Authentication method blocked (PIN blocked)',
  0x6984: 'Reference data not usable',
  0x6985: 'Conditions of use not satisfied',
  0x6986: 'Command not allowed (no current EF)',
  0x6987: 'Expected secure messaging data objects missing',
  0x6988: 'Incorrect secure messaging data objects',
  0x6a00: 'Wrong parameters P1-P2',
  0x6a80: 'Incorrect parameters in the command data field',
  0x6a81: 'Function not supported',
  0x6a82: 'File or application not found',
  0x6a83: 'Record not found',
  0x6a84: 'Not enough memory space in the file',
  0x6a85: 'Nc inconsistent with TLV structure',
  0x6a86: 'Incorrect parameters P1-P2',
  0x6a87: 'Nc inconsistent with parameters P1-P2',
  0x6a88: 'Referenced data or reference data not found',
  0x6a89: 'File already exists',
  0x6a8a: 'DF name already exists',
  0x6b00: 'Wrong parameters P1-P2',
  0x6d00: 'Instruction code not supported or invalid',
  0x6e00: 'Class not supported',
  0x6f00: 'No precise diagnosis',
};

/**
 * Describes a status word (0x0000–0xFFFF, SW1 in the high byte). Total: any number gets a
 * text; values outside the range or not integers give `Invalid status word`.
 *
 * @example describeStatusWord(0x63c2) // 'Verification failed, 2 tries left'
 */
export function describeStatusWord(sw: number): string {
  if (!Number.isInteger(sw) || sw < 0 || sw > 0xffff) return 'Invalid status word';
  const exact = EXACT[sw];
  if (exact !== undefined) return exact;
  const sw1 = sw >> 8;
  const sw2 = sw & 0xff;
  switch (sw1) {
    case 0x61:
      // §5.6: SW2 = number of extra bytes still available; 00 means 256 or more.
      return sw2 === 0
        ? 'Success, 256 or more bytes still available (GET RESPONSE)'
        : `Success, ${sw2} more bytes available (GET RESPONSE)`;
    case 0x62:
      return sw2 >= 0x02 && sw2 <= 0x80
        ? 'Warning: state unchanged, query triggered by the card'
        : 'Warning: state unchanged';
    case 0x63:
      // §5.6 table 6: 63Cx = counter x (commonly the PIN tries left after a failed VERIFY).
      if ((sw2 & 0xf0) === 0xc0) {
        const n = sw2 & 0x0f;
        return `Verification failed, ${n} ${n === 1 ? 'try' : 'tries'} left`;
      }
      return 'Warning: state changed';
    case 0x64:
      return sw2 >= 0x02 && sw2 <= 0x80
        ? 'Error: state unchanged, query triggered by the card'
        : 'Error: state unchanged, execution error';
    case 0x65:
      return 'Error: state changed';
    case 0x66:
      return 'Error: security-related issue';
    case 0x67:
      return 'Wrong length';
    case 0x68:
      return 'Function in CLA not supported';
    case 0x69:
      return 'Command not allowed';
    case 0x6a:
      return 'Wrong parameters P1-P2';
    case 0x6c:
      // §5.6: SW2 = the exact number of available data bytes (00 = 256).
      return `Wrong Le field: ${sw2 === 0 ? 256 : sw2} bytes available`;
    default:
      if (sw1 >= 0x90 && sw1 <= 0x9f) return 'Application-specific status';
      return 'Unknown status word';
  }
}

/** Formats a status word as 4 upper-case hex digits (`9000`). */
export function formatStatusWord(sw: number): string {
  return (sw & 0xffff).toString(16).toUpperCase().padStart(4, '0');
}
