/**
 * The vsmartcard vpcd wire protocol, as the vpcd reader driver speaks it to a virtual card
 * over TCP (shared/docs/pcsc.md): every message is a 2-byte big-endian length and that many
 * bytes. From the reader, a 1-byte message is a control code (off 0, on 1, reset 2, ATR
 * request 4); anything longer is a command APDU. The card answers an ATR request with the
 * ATR and an APDU with the response APDU; off/on/reset get no answer. Pure: bytes in, messages out.
 */

/** vpcd control codes. */
export const VPCD_CTRL = { OFF: 0, ON: 1, RESET: 2, ATR: 4 } as const;

/** A message from the vpcd reader driver. */
export type VpcdMessage =
  | { type: 'off' }
  | { type: 'on' }
  | { type: 'reset' }
  | { type: 'atr-request' }
  | { type: 'apdu'; apdu: Uint8Array }
  /** A 1-byte message with an unknown code, or an empty one; answered with nothing. */
  | { type: 'unknown'; bytes: Uint8Array };

/** Largest payload the 2-byte length allows. */
export const VPCD_MAX_PAYLOAD = 0xffff;

/** Streaming decoder: push received bytes, get the complete messages. */
export class VpcdFramer {
  #buffer = new Uint8Array(0);

  /** Adds received bytes; returns the messages now complete, in order. */
  push(chunk: Uint8Array): VpcdMessage[] {
    const joined = new Uint8Array(this.#buffer.length + chunk.length);
    joined.set(this.#buffer, 0);
    joined.set(chunk, this.#buffer.length);
    const out: VpcdMessage[] = [];
    let offset = 0;
    while (joined.length - offset >= 2) {
      const len = ((joined[offset] ?? 0) << 8) | (joined[offset + 1] ?? 0);
      if (joined.length - offset - 2 < len) break;
      out.push(decodeVpcdPayload(joined.slice(offset + 2, offset + 2 + len)));
      offset += 2 + len;
    }
    this.#buffer = joined.slice(offset);
    return out;
  }

  /** Bytes received but not yet a whole message. */
  get pending(): number {
    return this.#buffer.length;
  }
}

/** Decodes one message payload (without its length prefix). */
export function decodeVpcdPayload(payload: Uint8Array): VpcdMessage {
  if (payload.length === 1) {
    switch (payload[0]) {
      case VPCD_CTRL.OFF:
        return { type: 'off' };
      case VPCD_CTRL.ON:
        return { type: 'on' };
      case VPCD_CTRL.RESET:
        return { type: 'reset' };
      case VPCD_CTRL.ATR:
        return { type: 'atr-request' };
      default:
        return { type: 'unknown', bytes: payload };
    }
  }
  if (payload.length === 0) return { type: 'unknown', bytes: payload };
  return { type: 'apdu', apdu: payload };
}

/** Frames a payload (an ATR, a response APDU, or a control code) with its length. */
export function encodeVpcdFrame(payload: Uint8Array): Uint8Array {
  if (payload.length > VPCD_MAX_PAYLOAD) {
    throw new RangeError(`vpcd payload of ${payload.length} bytes exceeds ${VPCD_MAX_PAYLOAD}`);
  }
  const out = new Uint8Array(2 + payload.length);
  out[0] = payload.length >> 8;
  out[1] = payload.length & 0xff;
  out.set(payload, 2);
  return out;
}
