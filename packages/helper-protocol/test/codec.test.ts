import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  bytesToHex,
  CLIENT_REQUEST_TYPES,
  decodeClientMessage,
  decodeHelperMessage,
  decodeResult,
  encodeMessage,
  HELPER_LIMITS,
  hexToBytes,
  utf8Length,
} from '../src/index.ts';
import type { ClientMessage } from '../src/index.ts';

const READER = 'Virtual PCD 00 00';

describe('decodeClientMessage', () => {
  const valid: ClientMessage[] = [
    { type: 'pair', id: 1 },
    { type: 'list', id: 2 },
    { type: 'connect', id: 3, reader: READER },
    { type: 'status', id: 4, reader: READER },
    { type: 'power-on', id: 5, reader: READER },
    { type: 'power-off', id: 6, reader: READER },
    { type: 'transmit', id: 7, reader: READER, apdu: '00a4040000' },
    { type: 'disconnect', id: HELPER_LIMITS.maxRequestId, reader: READER },
  ];
  it.each(valid)('accepts $type', (m) => {
    expect(decodeClientMessage(encodeMessage(m))).toEqual({ ok: true, message: m });
  });

  it('covers every request type', () => {
    expect(new Set(valid.map((m) => m.type))).toEqual(new Set(CLIENT_REQUEST_TYPES));
  });

  const refused: [string, string, number | undefined][] = [
    ['not JSON', '{', undefined],
    ['an array', '[1]', undefined],
    ['no id', '{"type":"list"}', undefined],
    ['id 0', '{"type":"list","id":0}', undefined],
    ['fractional id', '{"type":"list","id":1.5}', undefined],
    ['id too large', `{"type":"list","id":${2 ** 31}}`, undefined],
    ['unknown type', '{"type":"format-disk","id":1}', 1],
    ['extra field', '{"type":"list","id":1,"x":1}', 1],
    ['reader missing', '{"type":"connect","id":1}', 1],
    ['empty reader', '{"type":"connect","id":1,"reader":""}', 1],
    ['control char in reader', '{"type":"connect","id":1,"reader":"a\\u0000b"}', 1],
    ['apdu not hex', `{"type":"transmit","id":1,"reader":"r","apdu":"zz00aa00"}`, 1],
    ['apdu odd length', `{"type":"transmit","id":1,"reader":"r","apdu":"00a4040"}`, 1],
    ['apdu too short', `{"type":"transmit","id":1,"reader":"r","apdu":"00a404"}`, 1],
    ['apdu as number', `{"type":"transmit","id":1,"reader":"r","apdu":5}`, 1],
    ['apdu on connect', `{"type":"connect","id":1,"reader":"r","apdu":"00a40400"}`, 1],
  ];
  it.each(refused)('refuses %s as malformed', (_, text, id) => {
    const d = decodeClientMessage(text);
    expect(d.ok).toBe(false);
    if (d.ok) return;
    expect(d.code).toBe('HELPER_MALFORMED');
    expect(d.id).toBe(id);
  });

  it('refuses an apdu longer than the limit, and a message larger than the limit', () => {
    const apdu = '00'.repeat(HELPER_LIMITS.maxApduBytes + 1);
    const long = decodeClientMessage(encodeMessage({ type: 'transmit', id: 1, reader: 'r', apdu }));
    expect(long).toMatchObject({ ok: false, code: 'HELPER_MALFORMED' });
    const huge = decodeClientMessage(`{"type":"list","id":1,"pad":"${'x'.repeat(150_000)}"}`);
    expect(huge).toMatchObject({ ok: false, code: 'HELPER_MESSAGE_TOO_LARGE' });
  });

  it('accepts the largest extended APDU inside the message limit', () => {
    const apdu = 'ab'.repeat(HELPER_LIMITS.maxApduBytes);
    const text = encodeMessage({ type: 'transmit', id: 1, reader: READER, apdu });
    expect(utf8Length(text)).toBeLessThanOrEqual(HELPER_LIMITS.maxMessageBytes);
    expect(decodeClientMessage(text).ok).toBe(true);
  });

  it('never throws, whatever the text (property)', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string(), fc.json()), (text) => {
        const d = decodeClientMessage(text);
        expect(typeof d.ok).toBe('boolean');
      }),
    );
  });

  it('round-trips every valid transmit (property)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: HELPER_LIMITS.maxRequestId }),
        fc.uint8Array({ minLength: 4, maxLength: 300 }),
        // eslint-disable-next-line no-control-regex
        fc.string({ minLength: 1, maxLength: 50 }).filter((s) => !/[\u0000-\u001f\u007f]/.test(s)),
        (id, bytes, reader) => {
          const m: ClientMessage = { type: 'transmit', id, reader, apdu: bytesToHex(bytes) };
          expect(decodeClientMessage(encodeMessage(m))).toEqual({ ok: true, message: m });
        },
      ),
    );
  });
});

describe('hex and utf8Length', () => {
  it('hex round-trips (property)', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), (b) => {
        expect(hexToBytes(bytesToHex(b))).toEqual(b);
      }),
    );
    expect(() => hexToBytes('0g')).toThrow(RangeError);
  });

  it('counts UTF-8 bytes like TextEncoder (property)', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary' }), (s) => {
        expect(utf8Length(s)).toBe(new TextEncoder().encode(s).length);
      }),
    );
  });
});

describe('decodeHelperMessage and decodeResult', () => {
  it.each([
    '{"type":"hello","version":1,"helper":"cardlend 0.1.0","approved":false}',
    '{"type":"ok","id":3,"result":{}}',
    '{"type":"error","id":3,"code":"HELPER_READER_IN_USE","message":"m"}',
    '{"type":"error","code":"HELPER_RATE_LIMITED","message":"m"}',
    '{"type":"error","id":9,"code":"CCID_CARD_ABSENT","message":"m"}',
    '{"type":"pairing","code":"012345"}',
    '{"type":"card","reader":"r","present":true}',
    '{"type":"reader-gone","reader":"r"}',
    '{"type":"readers-changed"}',
  ])('accepts %s', (text) => {
    expect(decodeHelperMessage(text).ok).toBe(true);
  });

  it.each([
    '{"type":"hello","version":"1"}',
    '{"type":"ok","id":3}',
    '{"type":"error","id":3,"code":"rm -rf","message":"m"}',
    '{"type":"pairing","code":"12ab"}',
    '{"type":"card","reader":"","present":true}',
    '{"type":"evil"}',
    'null',
  ])('refuses %s', (text) => {
    expect(decodeHelperMessage(text)).toMatchObject({ ok: false, code: 'HELPER_MALFORMED' });
  });

  it('checks results per request type', () => {
    expect(decodeResult('transmit', { answer: '9000' }).ok).toBe(true);
    expect(decodeResult('transmit', { answer: '9' }).ok).toBe(false);
    expect(decodeResult('power-on', { atr: '3b80800101', protocol: 1 }).ok).toBe(true);
    expect(decodeResult('power-on', { atr: '3b', protocol: 1 }).ok).toBe(false);
    expect(decodeResult('power-on', { atr: '3b80800101', protocol: 2 }).ok).toBe(false);
    expect(decodeResult('status', { slot: 'active' }).ok).toBe(true);
    expect(decodeResult('status', { slot: 'on' }).ok).toBe(false);
    const list = { readers: [{ name: 'r', card: 'present', atr: '3b00', inUse: false }] };
    expect(decodeResult('list', list).ok).toBe(true);
    expect(decodeResult('list', { readers: [{ name: 'r', card: 'x', inUse: false }] }).ok).toBe(
      false,
    );
    expect(decodeResult('pair', { approved: false }).ok).toBe(false);
  });
});
