/**
 * Strict decoding of helper → page messages (the page's side), and of an `ok` answer's result
 * for the request it answers. A helper is a local program the page did not write: nothing it
 * sends is trusted before it has the expected shape.
 */
import type { Decoded } from './codec.ts';
import { isReaderName, isRequestId } from './codec.ts';
import { isHelperErrorCode } from './codes.ts';
import { isHex } from './hex.ts';
import type { ClientRequestType, HelperMessage, OkResults, ReaderEntry } from './messages.ts';
import { errorSourceOf } from './source.ts';

type Obj = Record<string, unknown>;

function isObject(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function bad(reason: string): Decoded<never> {
  return { ok: false, code: 'HELPER_MALFORMED', reason };
}

function checkMessage(o: Obj): string | null {
  switch (o['type']) {
    case 'hello':
      return Number.isInteger(o['version']) &&
        typeof o['helper'] === 'string' &&
        typeof o['approved'] === 'boolean'
        ? null
        : 'bad hello';
    case 'ok':
      return isRequestId(o['id']) && isObject(o['result']) ? null : 'bad ok';
    case 'error': {
      const code = o['code'];
      const isCode =
        isHelperErrorCode(code) || (typeof code === 'string' && /^CCID_[A-Z_]{1,40}$/.test(code));
      const isId = o['id'] === undefined || isRequestId(o['id']);
      return isCode && isId && typeof o['message'] === 'string' ? null : 'bad error';
    }
    case 'pairing':
      return typeof o['code'] === 'string' && /^[0-9]{6}$/.test(o['code']) ? null : 'bad pairing';
    case 'card':
      return isReaderName(o['reader']) && typeof o['present'] === 'boolean' ? null : 'bad card';
    case 'reader-gone':
      return isReaderName(o['reader']) ? null : 'bad reader-gone';
    case 'readers-changed':
      return null;
    default:
      return 'unknown type';
  }
}

/** Decodes a helper → page message. */
export function decodeHelperMessage(text: string): Decoded<HelperMessage> {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return bad('not JSON');
  }
  if (!isObject(value)) return bad('not a JSON object');
  const problem = checkMessage(value);
  if (problem !== null) return bad(problem);
  return { ok: true, message: value['type'] === 'error' ? errorMessage(value) : toMessage(value) };
}

function toMessage(o: Obj): HelperMessage {
  return o as unknown as HelperMessage;
}

/**
 * A checked `error` with only its known fields; its `source` only when it has exactly the
 * known shape (source.ts), else dropped: the answer still counts, without it.
 */
function errorMessage(o: Obj): HelperMessage {
  const source = errorSourceOf(o['source']);
  return toMessage({
    type: 'error',
    ...(o['id'] === undefined ? {} : { id: o['id'] }),
    code: o['code'],
    message: o['message'],
    ...(source === undefined ? {} : { source }),
  });
}

function isReaderEntry(v: unknown): v is ReaderEntry {
  if (!isObject(v) || !isReaderName(v['name']) || typeof v['inUse'] !== 'boolean') return false;
  if (v['card'] !== 'absent' && v['card'] !== 'present' && v['card'] !== 'mute') return false;
  return v['atr'] === undefined || (typeof v['atr'] === 'string' && isHex(v['atr']));
}

const RESULT_CHECKS: { readonly [T in ClientRequestType]: (r: Obj) => boolean } = {
  pair: (r) => r['approved'] === true,
  list: (r) => Array.isArray(r['readers']) && r['readers'].every(isReaderEntry),
  connect: () => true,
  status: (r) => r['slot'] === 'active' || r['slot'] === 'inactive' || r['slot'] === 'absent',
  'power-on': (r) =>
    typeof r['atr'] === 'string' &&
    isHex(r['atr']) &&
    r['atr'].length >= 4 &&
    r['atr'].length <= 66 &&
    (r['protocol'] === 0 || r['protocol'] === 1),
  'power-off': () => true,
  transmit: (r) => typeof r['answer'] === 'string' && isHex(r['answer']) && r['answer'].length >= 4,
  disconnect: () => true,
};

/** Checks the result of an `ok` answer to a request of type `type`. */
export function decodeResult<T extends ClientRequestType>(
  type: T,
  result: unknown,
): Decoded<OkResults[T]> {
  if (!isObject(result) || !RESULT_CHECKS[type](result)) return bad(`bad ${type} result`);
  return { ok: true, message: result as unknown as OkResults[T] };
}
