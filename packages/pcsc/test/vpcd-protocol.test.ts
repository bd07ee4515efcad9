/**
 * The vpcd wire protocol (test-support/vpcd-protocol.ts): control codes, APDUs, and any
 * split of the byte stream into chunks gives the same messages.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  decodeVpcdPayload,
  encodeVpcdFrame,
  VPCD_CTRL,
  VpcdFramer,
} from '../test-support/index.ts';

describe('vpcd protocol', () => {
  it.each([
    [[VPCD_CTRL.OFF], { type: 'off' }],
    [[VPCD_CTRL.ON], { type: 'on' }],
    [[VPCD_CTRL.RESET], { type: 'reset' }],
    [[VPCD_CTRL.ATR], { type: 'atr-request' }],
    [[9], { type: 'unknown', bytes: Uint8Array.of(9) }],
    [[0, 0xa4, 4, 0], { type: 'apdu', apdu: Uint8Array.of(0, 0xa4, 4, 0) }],
  ])('decodes the payload %j (control codes, APDUs)', (bytes, message) => {
    expect(decodeVpcdPayload(Uint8Array.from(bytes))).toEqual(message);
  });

  it('frames with a 2-byte big-endian length and refuses more than 65535 bytes', () => {
    expect([...encodeVpcdFrame(Uint8Array.of(0x90, 0x00))]).toEqual([0, 2, 0x90, 0x00]);
    expect([...encodeVpcdFrame(new Uint8Array(300)).subarray(0, 2)]).toEqual([1, 44]);
    expect(() => encodeVpcdFrame(new Uint8Array(65536))).toThrow(RangeError);
  });

  it('decodes the same messages however the stream is split', () => {
    fc.assert(
      fc.property(
        fc.array(fc.uint8Array({ minLength: 1, maxLength: 300 }), { maxLength: 8 }),
        fc.array(fc.integer({ min: 1, max: 64 }), { minLength: 1, maxLength: 20 }),
        (payloads, cuts) => {
          const stream = Uint8Array.from(payloads.flatMap((p) => [...encodeVpcdFrame(p)]));
          const framer = new VpcdFramer();
          const got = [];
          let offset = 0;
          for (let i = 0; offset < stream.length; i++) {
            const n = cuts[i % cuts.length] ?? 1;
            got.push(...framer.push(stream.subarray(offset, offset + n)));
            offset += n;
          }
          expect(got).toEqual(payloads.map((p) => decodeVpcdPayload(p)));
          expect(framer.pending).toBe(0);
        },
      ),
    );
  });
});
