import { describe, expect, it } from 'vitest';
import { GuestQueue } from '../src/lending/guest-queue.ts';

describe('the PIN wipe after a command is logged', () => {
  const h = (hex: string): Uint8Array =>
    Uint8Array.from(hex.replace(/\s+/g, '').match(/../g) ?? [], (x) => parseInt(x, 16));

  it.each([
    ['VERIFY with a PIN', '00 20 00 80 08 31 32 33 34 35 36 FF FF', true],
    ['VERIFY status query', '00 20 00 80', true],
    ['CHANGE REFERENCE DATA', '00 24 00 80 02 31 32', true],
    ['SELECT', '00 A4 04 00 02 A0 00', false],
    ['READ BINARY', '00 B0 00 00 00', false],
  ])('%s: wiped only when the entry is redacted, and the entry keeps a copy', (_, hex, isWiped) => {
    const queue = new GuestQueue(374);
    const apdu = h(hex);
    const response = h('90 00');
    const entry = queue.logEntry(
      { socket: 1, id: 1, apdu, atMs: 0 },
      { answer: response, answeredBy: 'card' },
      1,
    );
    expect(entry.isRedacted).toBe(isWiped);
    expect(apdu.every((b) => b === 0)).toBe(isWiped);
    expect(entry.command === null ? null : [...entry.command]).toEqual(
      isWiped ? null : [...h(hex)],
    );
    response.fill(0xee);
    expect([...(entry.response ?? [])]).toEqual([0x90, 0x00]);
  });
});
