/**
 * Encoding and strict decoding of helper protocol messages (messages.ts). Decoding never
 * throws: anything that is not exactly a valid message is a typed refusal
 * (`HELPER_MALFORMED`, `HELPER_MESSAGE_TOO_LARGE`), with the request id when one was readable
 * so the refusal can answer it.
 */
import { HELPER_LIMITS } from './constants.ts';
import type { HelperErrorCode } from './codes.ts';
import { isHex, utf8Length } from './hex.ts';
import type { ClientMessage, ClientRequestType, HelperMessage } from './messages.ts';

/** A decoded message or why it was refused. */
export type Decoded<T> =
  | { readonly ok: true; readonly message: T }
  | {
      readonly ok: false;
      readonly code: Extract<HelperErrorCode, 'HELPER_MALFORMED' | 'HELPER_MESSAGE_TOO_LARGE'>;
      readonly reason: string;
      /** The request id, when the message had a valid one. */
      readonly id?: number;
    };

/** Requests without a reader, then those that name one. */
const BARE_REQUESTS = ['pair', 'list'] as const satisfies readonly ClientRequestType[];
const READER_REQUESTS = [
  'connect',
  'status',
  'power-on',
  'power-off',
  'transmit',
  'disconnect',
] as const satisfies readonly ClientRequestType[];
const READER_TYPES: ReadonlySet<string> = new Set(READER_REQUESTS);
const BARE_TYPES: ReadonlySet<string> = new Set(BARE_REQUESTS);

type Obj = Record<string, unknown>;

function isObject(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function hasOnly(o: Obj, keys: readonly string[]): boolean {
  return Object.keys(o).every((k) => keys.includes(k));
}

/** Whether `v` is a request id: an integer 1..maxRequestId. */
export function isRequestId(v: unknown): v is number {
  return Number.isInteger(v) && (v as number) >= 1 && (v as number) <= HELPER_LIMITS.maxRequestId;
}

/** Whether `v` is an acceptable reader name. */
export function isReaderName(v: unknown): v is string {
  return (
    typeof v === 'string' &&
    v.length >= 1 &&
    v.length <= HELPER_LIMITS.maxReaderNameChars &&
    // eslint-disable-next-line no-control-regex
    !/[\u0000-\u001f\u007f]/.test(v)
  );
}

function parse(text: string): Obj | string {
  if (utf8Length(text) > HELPER_LIMITS.maxMessageBytes) return 'too large';
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return 'not JSON';
  }
  return isObject(value) ? value : 'not a JSON object';
}

function malformed(reason: string, id?: number): Decoded<never> {
  return id === undefined
    ? { ok: false, code: 'HELPER_MALFORMED', reason }
    : { ok: false, code: 'HELPER_MALFORMED', reason, id };
}

function checkReaderRequest(o: Obj, type: string): string | null {
  const keys = type === 'transmit' ? ['type', 'id', 'reader', 'apdu'] : ['type', 'id', 'reader'];
  if (!hasOnly(o, keys)) return `unexpected field in ${type}`;
  if (!isReaderName(o['reader'])) return 'bad reader name';
  if (type !== 'transmit') return null;
  const apdu = o['apdu'];
  if (typeof apdu !== 'string' || !isHex(apdu)) return 'apdu must be hex';
  const n = apdu.length / 2;
  if (n < 4 || n > HELPER_LIMITS.maxApduBytes) return `apdu of ${n} bytes`;
  return null;
}

/** Decodes a page → helper message (the helper's side). */
export function decodeClientMessage(text: string): Decoded<ClientMessage> {
  const o = parse(text);
  if (o === 'too large')
    return { ok: false, code: 'HELPER_MESSAGE_TOO_LARGE', reason: 'message too large' };
  if (typeof o === 'string') return malformed(o);
  const id = isRequestId(o['id']) ? o['id'] : undefined;
  if (id === undefined) return malformed('missing or bad id');
  const type = o['type'];
  if (typeof type !== 'string') return malformed('missing type', id);
  if (BARE_TYPES.has(type)) {
    if (!hasOnly(o, ['type', 'id'])) return malformed(`unexpected field in ${type}`, id);
  } else if (READER_TYPES.has(type)) {
    const problem = checkReaderRequest(o, type);
    if (problem !== null) return malformed(problem, id);
  } else return malformed('unknown type', id);
  return { ok: true, message: o as unknown as ClientMessage };
}

/** Encodes a message of either side. */
export function encodeMessage(message: ClientMessage | HelperMessage): string {
  return JSON.stringify(message);
}

/** The request types, for tables and tests. */
export const CLIENT_REQUEST_TYPES: readonly ClientRequestType[] = [
  ...BARE_REQUESTS,
  ...READER_REQUESTS,
];
