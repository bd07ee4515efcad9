import { describe, expect, it } from 'vitest';
import { chooseReader, pickFromAnswer } from '../src/reader-choice.ts';
import type { ReaderSummary } from '../src/reader-choice.ts';

const ATR = Uint8Array.of(0x3b, 0x95, 0x13, 0x81, 0x01, 0x80, 0x73, 0xff, 0x01, 0x00, 0x0b);
const r = (name: string, state: ReaderSummary['state']): ReaderSummary => ({
  name,
  state,
  atr: state === 'empty' ? null : ATR,
});
const A = r('Virtual PCD 00 00', 'present');
const B = r('Virtual PCD 00 01', 'empty');
const C = r('Yubico YubiKey OTP+FIDO+CCID 00 00', 'present');
const D = r('Virtual PCD', 'empty');

type Row = [
  string,
  ReaderSummary[],
  string | null,
  boolean,
  string,
  string | ReaderSummary[] | RegExp,
];

describe('chooseReader', () => {
  const rows: Row[] = [
    // what, readers, --reader, terminal?, kind, chosen name | candidates | message
    ['the one reader holding a card', [A, B], null, false, 'chosen', A.name],
    ['a single reader, even without a card', [B], null, false, 'chosen', B.name],
    ['--reader matches a part, case-insensitive', [A, B, C], 'yubikey', false, 'chosen', C.name],
    ['--reader may pick a reader without a card', [A, B], '00 01', false, 'chosen', B.name],
    ['--reader: an exact name wins over parts', [A, D], 'virtual pcd', false, 'chosen', D.name],
    ['no readers: refused', [], null, true, 'refuse', /No smart card reader found/],
    [
      '--reader matches none: refused, listing all',
      [A, B],
      'gemalto',
      true,
      'refuse',
      /"gemalto".*\n.*Virtual PCD 00 00 \(card\)\n.*Virtual PCD 00 01 \(empty\)/,
    ],
    ['two with cards, terminal: ask among them', [A, B, C], null, true, 'ask', [A, C]],
    [
      'two with cards, no terminal: refused, listing them',
      [A, B, C],
      null,
      false,
      'refuse',
      /2 readers hold a card\. Choose one with --reader NAME/,
    ],
    ['no card anywhere, terminal: ask among all', [B, D], null, true, 'ask', [B, D]],
    [
      'no card anywhere, no terminal: refused',
      [B, D],
      null,
      false,
      'refuse',
      /No reader holds a card yet/,
    ],
    ['--reader matches several, terminal: ask', [A, B, C], 'virtual', true, 'ask', [A, B]],
    [
      '--reader matches several, no terminal: refused',
      [A, B, C],
      'virtual',
      false,
      'refuse',
      /2 readers match "virtual"/,
    ],
    [
      'a card in use by another program counts as a card',
      [r('X', 'in-use'), B],
      null,
      false,
      'chosen',
      'X',
    ],
  ];
  it.each(rows)('%s', (_what, readers, query, isInteractive, kind, expected) => {
    const c = chooseReader(readers, query, isInteractive);
    expect(c.kind).toBe(kind);
    if (c.kind === 'chosen') expect(c.reader.name).toBe(expected);
    if (c.kind === 'ask') expect(c.candidates).toEqual(expected);
    if (c.kind === 'refuse') expect(c.message).toMatch(expected as RegExp);
  });
});

describe('pickFromAnswer', () => {
  it.each([
    ['1', A.name],
    [' 2 ', C.name],
    ['yubi', C.name],
    ['3', null],
    ['0', null],
    ['', null],
    ['pcd', null], // matches one only if unique: "Virtual PCD" is in A only → A
    ['nothing', null],
  ])('%j → %s', (answer, name) => {
    const picked = pickFromAnswer([A, C], answer);
    if (answer === 'pcd') expect(picked?.name).toBe(A.name);
    else expect(picked?.name ?? null).toBe(name);
  });
});
