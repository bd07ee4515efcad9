/**
 * The optional `source` of an `error` (the PC/SC code below a reader failure): the gate sends
 * it only in the known shape, the page's decoder keeps it only in the known shape and drops
 * anything else a helper puts there without refusing the answer, and an error without one
 * decodes as before (a page talking to an older helper).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  ConnectionGate,
  decodeHelperMessage,
  encodeMessage,
  errorSourceOf,
  isPcscCodeName,
} from '../src/index.ts';
import type { HelperMessage } from '../src/index.ts';

const PAGE = 'https://lend.example.org';
const BUSY = { kind: 'pcsc', code: 'SCARD_E_SHARING_VIOLATION' } as const;

const errorWith = (source: unknown): string =>
  JSON.stringify({ type: 'error', id: 4, code: 'CCID_DEVICE_BUSY', message: 'busy', source });

describe('decodeHelperMessage: an error with a source', () => {
  it.each([
    'SCARD_E_SHARING_VIOLATION',
    'SCARD_W_REMOVED_CARD',
    'SCARD_F_COMM_ERROR',
    'SCARD_P_SHUTDOWN',
  ])('keeps a PC/SC source %s', (code) => {
    expect(decodeHelperMessage(errorWith({ kind: 'pcsc', code }))).toEqual({
      ok: true,
      message: {
        type: 'error',
        id: 4,
        code: 'CCID_DEVICE_BUSY',
        message: 'busy',
        source: { kind: 'pcsc', code },
      },
    });
  });

  it('decodes an error without a source exactly as before (an older helper)', () => {
    const old = { type: 'error', id: 4, code: 'CCID_DEVICE_BUSY', message: 'busy' };
    expect(decodeHelperMessage(JSON.stringify(old))).toEqual({ ok: true, message: old });
    const refusal = { type: 'error', code: 'HELPER_RATE_LIMITED', message: 'slow down' };
    expect(decodeHelperMessage(JSON.stringify(refusal))).toEqual({ ok: true, message: refusal });
  });

  const hostile: [string, unknown][] = [
    ['null', null],
    ['a string', 'SCARD_E_SHARING_VIOLATION'],
    ['an array', [BUSY]],
    ['another kind', { kind: 'ccid', code: 'CCID_DEVICE_BUSY' }],
    ['a helper kind', { kind: 'helper', code: 'HELPER_INTERNAL' }],
    ['no code', { kind: 'pcsc' }],
    ['a numeric code', { kind: 'pcsc', code: 0x8010000b }],
    ['a lowercase code', { kind: 'pcsc', code: 'scard_e_sharing_violation' }],
    ['text for the page', { kind: 'pcsc', code: 'SCARD_E_<img src=x onerror=alert(1)>' }],
    ['a too long code', { kind: 'pcsc', code: `SCARD_E_${'A'.repeat(41)}` }],
    ['another family', { kind: 'pcsc', code: 'SCARD_S_SUCCESS' }],
    ['a newline', { kind: 'pcsc', code: 'SCARD_E_TIMEOUT\n' }],
    ['an extra field', { ...BUSY, words: 'Format your disk to continue' }],
    ['a prototype key', JSON.parse('{"kind":"pcsc","code":"SCARD_E_TIMEOUT","__proto__":{}}')],
  ];
  it.each(hostile)('drops a malformed source (%s), keeping the answer', (_, source) => {
    expect(decodeHelperMessage(errorWith(source))).toEqual({
      ok: true,
      message: { type: 'error', id: 4, code: 'CCID_DEVICE_BUSY', message: 'busy' },
    });
  });

  it('keeps only the known fields of an error', () => {
    const text = JSON.stringify({
      type: 'error',
      code: 'HELPER_STOPPING',
      message: 'bye',
      extra: { a: 1 },
    });
    expect(decodeHelperMessage(text)).toEqual({
      ok: true,
      message: { type: 'error', code: 'HELPER_STOPPING', message: 'bye' },
    });
  });

  it('never throws and never lets another source through, whatever it is (property)', () => {
    fc.assert(
      fc.property(fc.jsonValue(), (source) => {
        const d = decodeHelperMessage(errorWith(source));
        expect(d.ok).toBe(true);
        const kept = d.ok && d.message.type === 'error' ? d.message.source : undefined;
        if (kept !== undefined)
          expect(isPcscCodeName(kept.code) && kept.kind === 'pcsc').toBe(true);
      }),
    );
  });
});

describe('errorSourceOf and isPcscCodeName', () => {
  it('accepts exactly the PC/SC code names', () => {
    expect(errorSourceOf(BUSY)).toEqual(BUSY);
    expect(errorSourceOf({ code: 'SCARD_E_TIMEOUT', kind: 'pcsc' })).toEqual({
      kind: 'pcsc',
      code: 'SCARD_E_TIMEOUT',
    });
    expect(errorSourceOf(undefined)).toBeUndefined();
    expect(isPcscCodeName('SCARD_E_NO_SERVICE')).toBe(true);
    expect(isPcscCodeName('SCARD_P_OTHER')).toBe(false);
    expect(isPcscCodeName('CCID_DEVICE_BUSY')).toBe(false);
    expect(isPcscCodeName(42)).toBe(false);
  });
});

describe('ConnectionGate.fail with a source', () => {
  function approvedGateWithRequest(): ConnectionGate {
    const g = new ConnectionGate({
      originHeader: PAGE,
      isApproved: () => true,
      helper: 'cardlend test',
      nowMs: 0,
    });
    g.open();
    g.receive({ text: encodeMessage({ type: 'power-on', id: 3, reader: 'R' }) }, 0);
    return g;
  }

  it('sends the PC/SC source with the reader code, and the page decodes the same', () => {
    const actions = approvedGateWithRequest().fail(3, 'CCID_DEVICE_BUSY', 'busy', BUSY);
    const message: HelperMessage = {
      type: 'error',
      id: 3,
      code: 'CCID_DEVICE_BUSY',
      message: 'busy',
      source: BUSY,
    };
    expect(actions).toEqual([{ type: 'send', message }]);
    expect(decodeHelperMessage(encodeMessage(message))).toEqual({ ok: true, message });
  });

  it('sends no source when there is none, or one of another shape', () => {
    const plain = { type: 'error', id: 3, code: 'CCID_DEVICE_BUSY', message: 'busy' };
    expect(approvedGateWithRequest().fail(3, 'CCID_DEVICE_BUSY', 'busy')).toEqual([
      { type: 'send', message: plain },
    ]);
    const bad = { kind: 'pcsc', code: 'not a code' } as unknown as typeof BUSY;
    expect(approvedGateWithRequest().fail(3, 'CCID_DEVICE_BUSY', 'busy', bad)).toEqual([
      { type: 'send', message: plain },
    ]);
  });
});
