/** Small helpers at the WebSocket edge of a session. */
import type { RawData } from 'ws';

/** Close reasons are limited to 123 bytes (RFC 6455 §5.5.1). */
export function clampReason(reason: string): string {
  let out = reason;
  while (Buffer.byteLength(out, 'utf8') > 123) out = out.slice(0, -1);
  return out;
}

/** One WebSocket message as one Buffer (no copy when it already is one). */
export function toBytes(data: RawData): Buffer {
  if (Buffer.isBuffer(data)) return data;
  if (Array.isArray(data)) return Buffer.concat(data);
  return Buffer.from(data);
}
