import { describe, expect, it } from 'vitest';
import {
  consentText,
  decideConsent,
  describeCard,
  describeTarget,
  isConsentGiven,
} from '../src/consent.ts';
import type { ReaderSummary } from '../src/reader-choice.ts';

const NOW = 1_800_000_000_000;
const token = (p: object): string =>
  `v1.${Buffer.from(JSON.stringify(p)).toString('base64url')}.sig`;
const T1_ATR = Uint8Array.from(Buffer.from('3B951381018073FF01000B', 'hex')); // vicc: T=1 only
const T0_ATR = Uint8Array.from(Buffer.from('3B0A434152444C454E443031', 'hex'));
const reader = (
  atr: Uint8Array | null,
  state: ReaderSummary['state'] = 'present',
): ReaderSummary => ({
  name: 'Virtual PCD 00 00',
  state,
  atr,
});

describe('decideConsent', () => {
  it.each([
    [true, true, 'skip'],
    [true, false, 'skip'],
    [false, true, 'ask'],
    [false, false, 'refuse'],
  ])('--yes %s, terminal %s → %s', (yes, isInteractive, kind) => {
    const d = decideConsent({ yes, isInteractive });
    expect(d.kind).toBe(kind);
    if (d.kind === 'refuse') expect(d.message).toMatch(/no terminal.*--yes/);
  });
});

describe('consent text', () => {
  it('names the reader, the card and the VM the token names', () => {
    const text = consentText(
      reader(T0_ATR),
      {
        relayUrl: 'wss://relay.example/vscard',
        token: token({ tid: 'vm-42', exp: NOW / 1000 + 600, jti: 'j', one: true }),
        tokenSource: 'link',
      },
      NOW,
    );
    expect(text).toContain('reader: Virtual PCD 00 00');
    expect(text).toContain('card:   ATR 3B 0A 43 41 52 44 4C 45 4E 44 30 31, offers T=0');
    expect(text).toContain(
      'to:     VM "vm-42" behind wss://relay.example/vscard (token expires in 10 min, one session)',
    );
    expect(text).toMatch(/Ctrl-C/);
  });

  it.each([
    [reader(null, 'empty'), /no card yet/],
    [reader(T1_ATR), /ATR 3B 95 13 81 .*offers T=1$/],
    [reader(T1_ATR, 'in-use'), /another program is using it now/],
    [reader(Uint8Array.of(0x3b)), /ATR not readable/],
  ])('card line %#', (r, expected) => {
    expect(describeCard(r)).toMatch(expected);
  });

  it.each([
    ['', /^the VM behind ws:\/\/r\/vscard \(no session token\)$/],
    ['opaque', /^the VM your token names, behind ws:\/\/r\/vscard$/],
    [
      token({ tid: 'default', exp: NOW / 1000 - 60, jti: 'j' }),
      /VM "default" .*expired 60 s ago, reconnects allowed/,
    ],
  ])('target line for token %j', (t, expected) => {
    expect(
      describeTarget({ relayUrl: 'ws://r/vscard', token: t, tokenSource: 'link' }, NOW),
    ).toMatch(expected);
  });
});

describe('isConsentGiven', () => {
  it.each(['y', 'Y', ' yes ', 'YES'])('%j gives consent', (answer) => {
    expect(isConsentGiven(answer)).toBe(true);
  });

  it.each(['', 'n', 'no', 'yess', 'sure'])('%j does not', (answer) => {
    expect(isConsentGiven(answer)).toBe(false);
  });
});
