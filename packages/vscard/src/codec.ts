/**
 * Encode and decode single VSCard messages (vscard-protocol.md §2). Pure functions over
 * `Uint8Array`; no I/O.
 *
 * Aliasing: {@link decodeMessage} returns byte fields (`magic`, `atr`, `apdu`, `payload`)
 * as `subarray` views of the frame it was given (no copy). Copy them if the frame's
 * memory will be reused. {@link encodeMessage} always returns a fresh buffer.
 */
import {
  VSC,
  VSC_DRAFT2010,
  VSCARD_HEADER_BYTES,
  VSCARD_MAX_PAYLOAD_BYTES,
  VSCARD_MAGIC,
} from './constants.ts';
import { VscardError } from './errors.ts';
import { readU32BE, readU32LE, writeU32BE, writeU32LE } from './u32.ts';
import { utf8Decode, utf8Encode } from './utf8.ts';

/** @internal read a big-endian uint32 without a DataView (hot path). */
export { readU32BE } from './u32.ts';

/** A decoded VSCard message. `readerId` is the header's reader_id (uint32). */
export type VscardMessage =
  /** Payload: magic[4], version u32 BE, capabilities u32 BE × n (§2.3). The 2010 draft Init carries only `version` (magic and capabilities are then empty). */
  | { type: 'Init'; readerId: number; magic: Uint8Array; version: number; capabilities: number[] }
  /** `code` is read big-endian by default (host→client); see `errorCodeByteOrder` (§2.5). */
  | { type: 'Error'; readerId: number; code: number }
  /** Optional reader name, UTF-8 without terminator (§2.3); ignored by QEMU. */
  | { type: 'ReaderAdd'; readerId: number; name: string }
  | { type: 'ReaderRemove'; readerId: number }
  | { type: 'ATR'; readerId: number; atr: Uint8Array }
  | { type: 'CardRemove'; readerId: number }
  /** host→client: the guest's command; client→host: the answer (data + SW1 SW2). */
  | { type: 'APDU'; readerId: number; apdu: Uint8Array }
  | { type: 'Flush'; readerId: number }
  | { type: 'FlushComplete'; readerId: number }
  /** 2010 draft only: reply to ReaderAdd; the allocated id is the header's reader_id (§2.6). */
  | { type: 'ReaderAddResponse'; readerId: number }
  /** 2010 draft only: reconnect to `ip` (IPv4 as uint32, 0 = same host) : `port` (0 = port + 1) (§2.6). */
  | { type: 'Reconnect'; readerId: number; ip: number; port: number }
  /** Any type number the dialect does not define; `code` is the raw type word. */
  | { type: 'Unknown'; code: number; readerId: number; payload: Uint8Array };

/** Message type name (the `type` discriminant of {@link VscardMessage}). */
export type VscardMessageType = VscardMessage['type'];

/** `'current'` = protocol 0.0.2 (QEMU, libcacard, SPICE); `'draft2010'` = the 0.0.1 numbering (§2.6). */
export type Dialect = 'current' | 'draft2010';

/** Byte order of the `VSC_Error` code (§2.5). */
export type ErrorCodeByteOrder = 'le' | 'be';

/** Options of {@link encodeMessage}. */
export interface EncodeOptions {
  /** Type numbering; default `'current'`. */
  dialect?: Dialect;
  /**
   * Byte order of an Error's code. Default `'le'`: this package encodes the client→host
   * direction, and QEMU reads the client's code as a native (x86: little-endian) uint32 and
   * only logs it (§2.5; spice-gtk sends LE too). Use `'be'` to produce host-style errors.
   */
  errorCodeByteOrder?: ErrorCodeByteOrder;
  /**
   * Largest payload to encode; default {@link VSCARD_MAX_PAYLOAD_BYTES} (65524), the most a
   * client may send. Host doubles encoding guest commands may pass
   * `VSCARD_MAX_GUEST_COMMAND_BYTES` (65526), the most QEMU forwards.
   */
  maxPayloadBytes?: number;
}

/** Options of {@link decodeMessage}. */
export interface DecodeOptions {
  /** Type numbering; default `'current'`. */
  dialect?: Dialect;
  /** Byte order of an Error's code; default `'be'` (what QEMU sends, §2.5). */
  errorCodeByteOrder?: ErrorCodeByteOrder;
  /** Largest accepted payload in bytes; default {@link VSCARD_MAX_PAYLOAD_BYTES} (65524). */
  maxPayloadBytes?: number;
}

type KnownName = Exclude<VscardMessageType, 'Unknown'>;

function byNumber(table: Record<string, number>): readonly (KnownName | undefined)[] {
  const out: (KnownName | undefined)[] = new Array<KnownName | undefined>(16).fill(undefined);
  for (const [name, n] of Object.entries(table)) out[n] = name as KnownName;
  return out;
}
const CURRENT_BY_NUMBER = byNumber(VSC);
const DRAFT_BY_NUMBER = byNumber(VSC_DRAFT2010);
const CURRENT_NUMBERS: ReadonlyMap<KnownName, number> = new Map(
  Object.entries(VSC).map(([name, n]) => [name as KnownName, n]),
);
const DRAFT_NUMBERS: ReadonlyMap<KnownName, number> = new Map(
  Object.entries(VSC_DRAFT2010).map(([name, n]) => [name as KnownName, n]),
);

/** Name of a type number in a dialect, or `undefined` when the dialect does not define it. */
export function typeName(type: number, dialect: Dialect = 'current'): KnownName | undefined {
  // Both dialects use 0–9 only: an array lookup keeps the decode hot path cheap.
  return type < 16
    ? (dialect === 'draft2010' ? DRAFT_BY_NUMBER : CURRENT_BY_NUMBER)[type]
    : undefined;
}

/** Type number of a message name in a dialect, or `undefined` if the dialect lacks it. */
export function typeNumber(name: KnownName, dialect: Dialect = 'current'): number | undefined {
  return (dialect === 'draft2010' ? DRAFT_NUMBERS : CURRENT_NUMBERS).get(name);
}

/** Whether `type` is a message type defined by `dialect` (default `'current'`: 1–9). */
export function isKnownType(type: number, dialect: Dialect = 'current'): boolean {
  return typeName(type, dialect) !== undefined;
}

/** Result of {@link peekHeader}. `length` is the declared payload length (not checked). */
export type PeekResult =
  { kind: 'incomplete' } | { kind: 'header'; type: number; readerId: number; length: number };

/**
 * Read the 12-byte header at the start of `bytes` (§2.1) without validating anything.
 * Returns `{ kind: 'incomplete' }` while fewer than 12 bytes are available.
 */
export function peekHeader(bytes: Uint8Array): PeekResult {
  if (bytes.length < VSCARD_HEADER_BYTES) return { kind: 'incomplete' };
  return {
    kind: 'header',
    type: readU32BE(bytes, 0),
    readerId: readU32BE(bytes, 4),
    length: readU32BE(bytes, 8),
  };
}

function checkU32(value: number, what: string): void {
  if (!Number.isInteger(value) || value < 0 || value > 0xffffffff) {
    throw new RangeError(`${what} must be a uint32, got ${value}`);
  }
}

/**
 * Encode one message as header + payload (§2.1). Returns a fresh buffer.
 *
 * Throws `RangeError` (caller mistake) when a number is not a uint32 (port: uint16), the
 * payload exceeds {@link VSCARD_MAX_PAYLOAD_BYTES}, or the message type does not exist in
 * the dialect (Flush/FlushComplete in `'draft2010'`, ReaderAddResponse/Reconnect in
 * `'current'`). An `Unknown` message is written raw with its `code` as the type word, even
 * if that number is a known type (useful to craft malformed input in tests). In
 * `'draft2010'` the Init payload is just the version (magic and capabilities are not written).
 */
export function encodeMessage(msg: VscardMessage, opts: EncodeOptions = {}): Uint8Array {
  const dialect = opts.dialect ?? 'current';
  checkU32(msg.readerId, 'readerId');
  const type = encodedType(msg, dialect);
  const nameBytes = msg.type === 'ReaderAdd' ? utf8Encode(msg.name) : undefined;
  const payloadLength = nameBytes?.length ?? checkedPayloadLength(msg, dialect);
  const maxPayloadBytes = opts.maxPayloadBytes ?? VSCARD_MAX_PAYLOAD_BYTES;
  if (payloadLength > maxPayloadBytes) {
    throw new RangeError(
      `payload of ${payloadLength} bytes exceeds ${maxPayloadBytes} (QEMU would wedge)`,
    );
  }
  const out = new Uint8Array(VSCARD_HEADER_BYTES + payloadLength);
  writeU32BE(out, 0, type);
  writeU32BE(out, 4, msg.readerId);
  writeU32BE(out, 8, payloadLength);
  if (nameBytes) out.set(nameBytes, VSCARD_HEADER_BYTES);
  else writePayload(out, msg, dialect, (opts.errorCodeByteOrder ?? 'le') === 'le');
  return out;
}

/**
 * @internal `encodeMessage({ type: 'APDU', readerId, apdu })` for a client's answer, straight
 * from its bytes (hot path: no message or options object). The caller checked `readerId`
 * (uint32) and `apdu.length` (≤ {@link VSCARD_MAX_PAYLOAD_BYTES}).
 */
export function encodeApduMessage(readerId: number, apdu: Uint8Array): Uint8Array {
  const out = new Uint8Array(VSCARD_HEADER_BYTES + apdu.length);
  writeU32BE(out, 0, VSC.APDU);
  writeU32BE(out, 4, readerId);
  writeU32BE(out, 8, apdu.length);
  out.set(apdu, VSCARD_HEADER_BYTES);
  return out;
}

/** The header's type word: the dialect's number, or an `Unknown` message's raw code. */
function encodedType(msg: VscardMessage, dialect: Dialect): number {
  if (msg.type === 'Unknown') {
    checkU32(msg.code, 'code');
    return msg.code;
  }
  const n = typeNumber(msg.type, dialect);
  if (n === undefined) {
    throw new RangeError(`message type ${msg.type} does not exist in dialect ${dialect}`);
  }
  return n;
}

/** Payload length of `msg` (ReaderAdd aside), after checking its numbers. */
function checkedPayloadLength(msg: VscardMessage, dialect: Dialect): number {
  switch (msg.type) {
    case 'Init': {
      let length = 4;
      if (dialect !== 'draft2010') {
        if (msg.magic.length !== 4) throw new RangeError('Init magic must be 4 bytes');
        length = 8 + 4 * msg.capabilities.length;
      }
      checkU32(msg.version, 'version');
      for (const c of msg.capabilities) checkU32(c, 'capability');
      return length;
    }
    case 'Error':
      checkU32(msg.code, 'code');
      return 4;
    case 'ATR':
      return msg.atr.length;
    case 'APDU':
      return msg.apdu.length;
    case 'Reconnect':
      checkU32(msg.ip, 'ip');
      if (!Number.isInteger(msg.port) || msg.port < 0 || msg.port > 0xffff) {
        throw new RangeError(`port must be a uint16, got ${msg.port}`);
      }
      return 6;
    case 'Unknown':
      return msg.payload.length;
    default:
      return 0;
  }
}

/** Writes the payload of `msg` (ReaderAdd aside) after the header of `out`. */
function writePayload(
  out: Uint8Array,
  msg: VscardMessage,
  dialect: Dialect,
  isErrorCodeLe: boolean,
): void {
  const p = VSCARD_HEADER_BYTES;
  switch (msg.type) {
    case 'Init':
      if (dialect === 'draft2010') {
        writeU32BE(out, p, msg.version);
      } else {
        out.set(msg.magic, p);
        writeU32BE(out, p + 4, msg.version);
        msg.capabilities.forEach((c, i) => writeU32BE(out, p + 8 + 4 * i, c));
      }
      break;
    case 'Error':
      if (isErrorCodeLe) writeU32LE(out, p, msg.code);
      else writeU32BE(out, p, msg.code);
      break;
    case 'ATR':
      out.set(msg.atr, p);
      break;
    case 'APDU':
      out.set(msg.apdu, p);
      break;
    case 'Reconnect':
      writeU32BE(out, p, msg.ip);
      out[p + 4] = msg.port >>> 8;
      out[p + 5] = msg.port & 0xff;
      break;
    case 'Unknown':
      out.set(msg.payload, p);
      break;
    default:
      break;
  }
}

function badPayload(name: string, detail: string): VscardError {
  return new VscardError('VSCARD_BAD_PAYLOAD', `${name}: ${detail}`);
}

/**
 * Decode exactly one whole message (header + payload) — e.g. one relay WebSocket frame.
 *
 * Throws {@link VscardError}: `VSCARD_TRUNCATED` (< 12 bytes, or fewer payload bytes than
 * declared), `VSCARD_LENGTH_MISMATCH` (more bytes than declared), `VSCARD_PAYLOAD_TOO_LARGE`
 * (declared length > `maxPayloadBytes`), `VSCARD_BAD_PAYLOAD` (payload impossible for the
 * type: Error ≠ 4 bytes; Init < 8 bytes or not 8 + 4n (draft: ≠ 4); ReaderRemove, CardRemove,
 * Flush, FlushComplete, ReaderAddResponse with a payload; Reconnect not 6 or 8 bytes;
 * ReaderAdd name not UTF-8). QEMU tolerates some of these (vectors s04, s10) but they cannot
 * be represented faithfully, so a strict decoder reports them. Types the dialect does not
 * define decode as `Unknown` (never an error). Byte fields alias `frame`.
 */
export function decodeMessage(frame: Uint8Array, opts: DecodeOptions = {}): VscardMessage {
  // The header's words are read in place (no header object per frame: hot path).
  if (frame.length < VSCARD_HEADER_BYTES) {
    throw new VscardError(
      'VSCARD_TRUNCATED',
      `frame of ${frame.length} bytes is shorter than the ${VSCARD_HEADER_BYTES}-byte header`,
    );
  }
  const length = readU32BE(frame, 8);
  const max = opts.maxPayloadBytes ?? VSCARD_MAX_PAYLOAD_BYTES;
  if (length > max) {
    throw new VscardError(
      'VSCARD_PAYLOAD_TOO_LARGE',
      `declared payload length ${length} exceeds ${max}`,
    );
  }
  const payloadBytes = frame.length - VSCARD_HEADER_BYTES;
  if (payloadBytes !== length) {
    throw new VscardError(
      payloadBytes < length ? 'VSCARD_TRUNCATED' : 'VSCARD_LENGTH_MISMATCH',
      `frame has ${payloadBytes} payload bytes, header declares ${length}`,
    );
  }
  const payload = frame.subarray(VSCARD_HEADER_BYTES);
  return decodePayload(readU32BE(frame, 0), readU32BE(frame, 4), payload, opts);
}

/** @internal decode a payload whose header was already validated. */
export function decodePayload(
  type: number,
  readerId: number,
  payload: Uint8Array,
  opts: DecodeOptions,
): VscardMessage {
  const dialect = opts.dialect ?? 'current';
  const name = typeName(type, dialect);
  const len = payload.length;
  switch (name) {
    case undefined:
      return { type: 'Unknown', code: type, readerId, payload };
    case 'Init':
      if (dialect === 'draft2010') {
        if (len !== 4) throw badPayload('Init', `draft Init needs 4 bytes, got ${len}`);
        return {
          type: 'Init',
          readerId,
          magic: payload.subarray(0, 0),
          version: readU32BE(payload, 0),
          capabilities: [],
        };
      }
      if (len < 8 || len % 4 !== 0) {
        throw badPayload('Init', `needs magic + version + 4-byte capabilities, got ${len} bytes`);
      }
      {
        const capabilities: number[] = [];
        for (let o = 8; o < len; o += 4) capabilities.push(readU32BE(payload, o));
        return {
          type: 'Init',
          readerId,
          magic: payload.subarray(0, 4),
          version: readU32BE(payload, 4),
          capabilities,
        };
      }
    case 'Error':
      if (len !== 4) throw badPayload('Error', `code needs 4 bytes, got ${len}`);
      return {
        type: 'Error',
        readerId,
        code:
          (opts.errorCodeByteOrder ?? 'be') === 'be'
            ? readU32BE(payload, 0)
            : readU32LE(payload, 0),
      };
    case 'ReaderAdd': {
      const s = utf8Decode(payload);
      if (s === undefined) throw badPayload('ReaderAdd', 'reader name is not valid UTF-8');
      return { type: 'ReaderAdd', readerId, name: s };
    }
    case 'ATR':
      return { type: 'ATR', readerId, atr: payload };
    case 'APDU':
      return { type: 'APDU', readerId, apdu: payload };
    case 'Reconnect':
      // ip u32 BE + port u16 (§2.6); 8 bytes = the C struct with its tail padding.
      if (len !== 6 && len !== 8) throw badPayload('Reconnect', `needs 6 bytes, got ${len}`);
      return {
        type: 'Reconnect',
        readerId,
        ip: readU32BE(payload, 0),
        port: ((payload[4] ?? 0) << 8) | (payload[5] ?? 0),
      };
    case 'ReaderRemove':
    case 'CardRemove':
    case 'Flush':
    case 'FlushComplete':
    case 'ReaderAddResponse':
      if (len !== 0) throw badPayload(name, `expected no payload, got ${len} bytes`);
      return { type: name, readerId };
  }
}

/** The Init a client sends (§2.7): reader_id 0, magic "VSCD", version 2, capabilities [0]. */
export function clientInit(): VscardMessage {
  return {
    type: 'Init',
    readerId: 0,
    magic: VSCARD_MAGIC.slice(),
    version: 2,
    capabilities: [0],
  };
}
