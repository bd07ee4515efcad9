import { describe, expect, it } from 'vitest';
import { kernelCommandLine } from '../src/boot-guest.ts';
import { bytesToHex, hexToBytes, parseMarkerLine } from '../src/markers.ts';

describe('parseMarkerLine', () => {
  it('parses kind, fields and guest time', () => {
    expect(
      parseMarkerLine('CARDLEND-RESULT t=3.91 name=apdu i=0 ok=1 sw=9000 data=6f0b\r'),
    ).toEqual({
      kind: 'RESULT',
      guestTimeS: 3.91,
      fields: { name: 'apdu', i: '0', ok: '1', sw: '9000', data: '6f0b' },
    });
  });
  it('accepts empty values and text before the marker', () => {
    expect(
      parseMarkerLine('[ 1.2] x CARDLEND-EVENT t=1 name=watch state=empty atr=')?.fields,
    ).toEqual({
      name: 'watch',
      state: 'empty',
      atr: '',
    });
  });
  it('ignores ordinary lines and unknown kinds', () => {
    expect(parseMarkerLine('[    4.1] reboot: Power down')).toBeNull();
    expect(parseMarkerLine('CARDLEND-BOGUS t=1')).toBeNull();
    expect(parseMarkerLine('CARDLEND-RESULT t=1 name=x junk')).toBeNull();
  });
});

describe('hex helpers', () => {
  it('round-trips', () => {
    expect(bytesToHex(hexToBytes('00A4ff'))).toBe('00a4ff');
    expect(() => hexToBytes('abc')).toThrow(RangeError);
  });
});

describe('kernelCommandLine', () => {
  it('passes scenario args as cl_ words', () => {
    expect(kernelCommandLine('apdu', { apdus: '00A40400,80300000', cardwait: 5 })).toMatch(
      / rdinit=\/init .*cl_scenario=apdu cl_apdus=00A40400,80300000 cl_cardwait=5$/,
    );
  });
  it('refuses what the kernel command line cannot carry', () => {
    expect(() => kernelCommandLine('atr', { 'bad.key': '1' })).toThrow(RangeError);
    expect(() => kernelCommandLine('atr', { data: 'a b' })).toThrow(RangeError);
    expect(() => kernelCommandLine('apdu', { apdus: '00'.repeat(1100) })).toThrow(RangeError);
  });
});

describe('benchResult', () => {
  it('reads the bench RESULT marker', async () => {
    const { benchResult } = await import('../src/bench-result.ts');
    const m = parseMarkerLine(
      'CARDLEND-RESULT t=8.01 name=bench ok=1 count=200 p50us=1012 p99us=9484 minus=463 maxus=24287',
    );
    expect(benchResult({ results: m ? [m] : [] })).toEqual({
      count: 200,
      p50Us: 1012,
      p99Us: 9484,
      minUs: 463,
      maxUs: 24287,
    });
    expect(() => benchResult({ results: [] })).toThrow(
      expect.objectContaining({ code: 'GUEST_QEMU_FAILED' }),
    );
  });
});
