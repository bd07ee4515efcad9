/**
 * Loads the golden vectors (vscard-protocol.md §10) and models each vector's client byte
 * stream as connections of writes, following each vector's notes.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export interface VectorStep {
  dir: 'c2h' | 'h2c';
  hex: string;
}
export interface Vector {
  name: string;
  description: string;
  steps: VectorStep[];
  notes?: string[];
}

const packageDir = resolve(dirname(fileURLToPath(import.meta.url)), '..');

/** Folder of the vectors: env VSCARD_VECTORS, else ../../../shared/data/vscard-vectors from the package. */
export const vectorsDir = resolve(
  process.env['VSCARD_VECTORS'] ?? join(packageDir, '../../../shared/data/vscard-vectors'),
);

export function loadVectors(): Vector[] {
  return readdirSync(vectorsDir)
    .filter((f) => f.endsWith('.json'))
    .sort()
    .map((f) => {
      const raw = JSON.parse(readFileSync(join(vectorsDir, f), 'utf8')) as Omit<Vector, 'name'>;
      return { ...raw, name: f.replace(/\.json$/, '') };
    });
}

export function hex(s: string): Uint8Array {
  if (s.length % 2 !== 0 || /[^0-9a-f]/i.test(s)) throw new Error(`bad hex ${s}`);
  const out = new Uint8Array(s.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(s.slice(2 * i, 2 * i + 2), 16);
  return out;
}

export function toHex(b: Uint8Array): string {
  return Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
}

export function concat(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/** One client connection's writes, plus how the stream is expected to end. */
export interface Connection {
  writes: Uint8Array[];
  /** A framing error expected while pushing write `atWrite` (later writes throw VSCARD_DECODER_FAILED). */
  error?: { code: 'VSCARD_PAYLOAD_TOO_LARGE'; atWrite: number };
  /** The connection closes mid-message: `finish()` must throw VSCARD_TRUNCATED. */
  isTruncated?: boolean;
}

/**
 * The client side of a vector as connections. Most vectors are one connection whose writes
 * are the c2h steps. Exceptions follow the vectors' notes:
 * - s13: the length 0x7fffffff header must fail the framer; the filler is on the same
 *   (now dead) connection; the last Init is a new client.
 * - s14: the 16-byte steps stand for a 65536-byte (length 65524, payload 0x5a) and a
 *   65537-byte message: the first must pass, the second fail; the Init after it is on the
 *   dead connection.
 * - s15: one 112-byte message sent 700 times as 50 bytes, then 112-byte writes.
 * - s16: client 1 closes mid-message; clients 2 and 3 send an Init each.
 * - s22: the poisoning partial message came from an earlier client.
 */
export function clientConnections(v: Vector): Connection[] {
  const c2h = v.steps.filter((s) => s.dir === 'c2h').map((s) => hex(s.hex));
  const at = (i: number): Uint8Array => {
    const b = c2h[i];
    if (!b) throw new Error(`${v.name}: no c2h step ${i}`);
    return b;
  };
  switch (v.name) {
    case 's13_huge_length': {
      const filler = new Uint8Array(4096); // stands for 4276736 zero bytes
      return [
        {
          writes: [at(0), at(1), at(2), at(3), filler],
          error: { code: 'VSCARD_PAYLOAD_TOO_LARGE', atWrite: 2 },
        },
        { writes: [at(4)] },
      ];
    }
    case 's14_max_message': {
      const big = (len: number): Uint8Array => {
        const m = new Uint8Array(12 + len).fill(0x5a);
        m.set(at(1).subarray(0, 12));
        m.set([len >>> 24, (len >>> 16) & 255, (len >>> 8) & 255, len & 255], 8);
        return m;
      };
      return [
        {
          writes: [at(0), big(65524), big(65525), at(3)],
          error: { code: 'VSCARD_PAYLOAD_TOO_LARGE', atWrite: 2 },
        },
      ];
    }
    case 's15_buffer_creep': {
      const stream = concat(Array.from({ length: 700 }, () => at(0)));
      const writes = [stream.subarray(0, 50)];
      for (let o = 50; o < stream.length; o += 112) writes.push(stream.subarray(o, o + 112));
      return [{ writes }];
    }
    case 's16_partial_then_reconnect':
      return [
        { writes: [at(0), at(1)], isTruncated: true },
        { writes: [at(2)] },
        { writes: [at(3)] },
      ];
    case 's22_recovery_device_readd':
      return [{ writes: [at(0)], isTruncated: true }, { writes: c2h.slice(1) }];
    default:
      return [{ writes: c2h }];
  }
}

/** Deterministic PRNG (mulberry32) for reproducible random splits. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Re-split a stream into random chunks (sizes 0…maxChunk, empty chunks included). */
export function randomSplit(stream: Uint8Array, rnd: () => number, maxChunk = 40): Uint8Array[] {
  const out: Uint8Array[] = [];
  let o = 0;
  while (o < stream.length) {
    const n = Math.floor(rnd() * (maxChunk + 1));
    out.push(stream.subarray(o, o + n));
    o += n;
  }
  return out;
}
