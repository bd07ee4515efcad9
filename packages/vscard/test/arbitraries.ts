/** fast-check arbitraries for VSCard messages. */
import fc from 'fast-check';
import type { Dialect, VscardMessage } from '../src/index.ts';
import { isKnownType } from '../src/index.ts';

const u32 = fc.nat({ max: 0xffffffff });
const bytes = (maxLength: number): fc.Arbitrary<Uint8Array> =>
  fc.uint8Array({ maxLength }).map((b) => new Uint8Array(b));

/** Arbitrary message that `dialect` can represent (draft Init has no magic or capabilities). */
export function arbMessage(dialect: Dialect = 'current'): fc.Arbitrary<VscardMessage> {
  const readerId = u32;
  const common: fc.Arbitrary<VscardMessage>[] = [
    fc.record({ type: fc.constant('Error' as const), readerId, code: u32 }),
    fc.record({
      type: fc.constant('ReaderAdd' as const),
      readerId,
      name: fc.string({ unit: 'grapheme', maxLength: 20 }),
    }),
    fc.record({ type: fc.constant('ReaderRemove' as const), readerId }),
    fc.record({ type: fc.constant('ATR' as const), readerId, atr: bytes(40) }),
    fc.record({ type: fc.constant('CardRemove' as const), readerId }),
    fc.record({ type: fc.constant('APDU' as const), readerId, apdu: bytes(300) }),
    fc.record({
      type: fc.constant('Unknown' as const),
      code: u32.filter((c) => !isKnownType(c, dialect)),
      readerId,
      payload: bytes(64),
    }),
  ];
  if (dialect === 'current') {
    return fc.oneof(
      ...common,
      fc.record({
        type: fc.constant('Init' as const),
        readerId,
        magic: fc.uint8Array({ minLength: 4, maxLength: 4 }).map((b) => new Uint8Array(b)),
        version: u32,
        capabilities: fc.array(u32, { maxLength: 6 }),
      }),
      fc.record({ type: fc.constant('Flush' as const), readerId }),
      fc.record({ type: fc.constant('FlushComplete' as const), readerId }),
    );
  }
  return fc.oneof(
    ...common,
    fc.record({
      type: fc.constant('Init' as const),
      readerId,
      magic: fc.constant(new Uint8Array(0)),
      version: u32,
      capabilities: fc.constant([] as number[]),
    }),
    fc.record({ type: fc.constant('ReaderAddResponse' as const), readerId }),
    fc.record({
      type: fc.constant('Reconnect' as const),
      readerId,
      ip: u32,
      port: fc.nat({ max: 0xffff }),
    }),
  );
}
