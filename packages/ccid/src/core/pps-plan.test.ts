import { describe, expect, it } from 'vitest';
import { parseAtr } from './atr.ts';
import { fromHex, toHex } from './bytes.ts';
import { maxXfrBlockDataBytes } from './descriptors.ts';
import { buildPps, parsePps, verifyPpsResponse } from './pps.ts';
import { planProtocol } from './protocol-plan.ts';
import { ESTEID_ATR, TPDU_READER, YUBIKEY_ATR } from '../../test/core-fixtures.ts';

describe('PPS (ISO/IEC 7816-3:2006 §9)', () => {
  it('builds PPSS PPS0 PPS1 PCK', () => {
    expect(toHex(buildPps({ protocol: 1, pps1: 0x96 }))).toBe('FF 11 96 78');
    expect(toHex(buildPps({ protocol: 0 }))).toBe('FF 00 FF');
    expect(toHex(buildPps({ protocol: 1, pps1: 0x13, pps2: 0x01 }))).toBe('FF 31 13 01 DC');
  });
  it('round-trips', () => {
    expect(parsePps(buildPps({ protocol: 1, pps1: 0x18, pps3: 0 }))).toEqual({
      protocol: 1,
      pps1: 0x18,
      pps3: 0,
    });
  });
  it('accepts an echo', () => {
    const req = buildPps({ protocol: 1, pps1: 0x96 });
    expect(verifyPpsResponse(req, req)).toEqual({ ok: true, fiDi: 0x96 });
  });
  it('accepts an answer without PPS1 (Fd/Dd stay)', () => {
    expect(verifyPpsResponse(buildPps({ protocol: 1, pps1: 0x96 }), fromHex('FF 01 FE'))).toEqual({
      ok: true,
      fiDi: 0x11,
    });
  });
  it.each([
    ['other protocol', 'FF 10 96 79'],
    ['other PPS1', 'FF 11 95 7B'],
    ['bad PCK', 'FF 11 96 00'],
    ['too long', 'FF 11 96 78 00'],
    ['empty', ''],
  ])('refuses %s', (_n, hex) => {
    expect(verifyPpsResponse(buildPps({ protocol: 1, pps1: 0x96 }), fromHex(hex)).ok).toBe(false);
  });
});

const base = TPDU_READER;
const yubikey = parseAtr(fromHex(YUBIKEY_ATR));
const esteid = parseAtr(fromHex(ESTEID_ATR));

describe('planProtocol (ccid.md §11, §15.4)', () => {
  it('TPDU reader without 0x80/0x40/0x400: host PPS, SetParameters, IFSD', () => {
    const p = planProtocol({ atr: yubikey, descriptor: base });
    expect(p.protocol).toBe(1);
    expect(toHex(p.pps!)).toBe('FF 11 13 FD');
    expect(p.setParameters?.protocolNum).toBe(1);
    expect(toHex(p.setParameters!.data)).toBe('13 10 00 15 00 FE 00');
    expect(p.negotiateIfsd).toBe(254);
  });
  it.each([
    {
      reader: 'auto PPS (0x80): no host PPS, SetParameters carries the speed',
      dwFeatures: 0x000100b0,
      plan: { pps: undefined, speed: 0x13 },
    },
    {
      reader: 'auto negotiation (0x40): neither PPS nor SetParameters; 0x40 wins over 0x80',
      dwFeatures: 0x000104f0,
      plan: { pps: undefined, hasSetParameters: false, negotiateIfsd: undefined },
    },
    {
      reader: 'auto IFSD (0x400): no S(IFS request)',
      dwFeatures: 0x000104b0,
      plan: { negotiateIfsd: undefined },
    },
    {
      reader: 'APDU-level reader: never a host PPS or IFSD',
      dwFeatures: 0x00040030,
      plan: { pps: undefined, negotiateIfsd: undefined, hasSetParameters: true },
    },
  ])('$reader', ({ dwFeatures, plan }) => {
    const p = planProtocol({ atr: yubikey, descriptor: { ...base, dwFeatures } });
    expect({
      pps: p.pps,
      hasSetParameters: p.setParameters !== undefined,
      speed: p.setParameters?.data[0],
      negotiateIfsd: p.negotiateIfsd,
    }).toMatchObject(plan);
  });
  it('speed too high for the reader: DI lowered until it fits', () => {
    const p = planProtocol({ atr: yubikey, descriptor: { ...base, dwMaxDataRate: 25000 } });
    expect(toHex(p.pps!)).toBe('FF 11 12 FC');
  });
  it('no faster speed: no PPS for the default protocol', () => {
    const p = planProtocol({
      atr: parseAtr(fromHex('3B890056434152445F4E5353')),
      descriptor: base,
    });
    expect(p.pps).toBeUndefined();
    expect(toHex(p.setParameters!.data)).toBe('11 00 00 0A 00');
  });
  it('T=0 + T=1 card, reader T=1 only: PPS selects T=1', () => {
    const p = planProtocol({
      atr: esteid,
      descriptor: { ...base, dwProtocols: 2, dwMaxDataRate: 9600 },
    });
    expect(p.protocol).toBe(1);
    expect(toHex(p.pps!)).toBe('FF 01 FE');
  });
  it('preferred protocol', () => {
    expect(planProtocol({ atr: esteid, descriptor: base, preferredProtocol: 1 }).protocol).toBe(1);
    expect(planProtocol({ atr: esteid, descriptor: base }).protocol).toBe(0);
  });
  it('no shared protocol: CCID_UNSUPPORTED', () => {
    expect(() => planProtocol({ atr: yubikey, descriptor: { ...base, dwProtocols: 1 } })).toThrow(
      expect.objectContaining({ code: 'CCID_UNSUPPORTED' }),
    );
  });
  it('specific mode: no PPS, TA1 in SetParameters', () => {
    const p = planProtocol({ atr: parseAtr(fromHex('3B 90 96 10 01')), descriptor: base });
    expect(p.protocol).toBe(1);
    expect(p.pps).toBeUndefined();
    expect(p.setParameters!.data[0]).toBe(0x96);
    expect(() =>
      planProtocol({ atr: parseAtr(fromHex('3B 90 96 10 91')), descriptor: base }),
    ).toThrow(expect.objectContaining({ code: 'CCID_UNSUPPORTED' }));
  });
});

describe('maxXfrBlockDataBytes (libccid BOGUS_SCM_FIRMWARE_FOR_dwMaxCCIDMessageLength)', () => {
  it('263 takes 261 bytes for T=0 TPDUs and short APDUs, 253 for anything else', () => {
    expect(maxXfrBlockDataBytes(263, 't0-tpdu-or-short-apdu')).toBe(261);
    expect(maxXfrBlockDataBytes(263, 'other')).toBe(253);
  });
  it('other values are taken as announced', () => {
    expect(maxXfrBlockDataBytes(262, 't0-tpdu-or-short-apdu')).toBe(252);
    expect(maxXfrBlockDataBytes(264, 't0-tpdu-or-short-apdu')).toBe(254);
    expect(maxXfrBlockDataBytes(271, 't0-tpdu-or-short-apdu')).toBe(261);
  });
});

describe('planProtocol: T=0 or T=1 on a small TPDU reader', () => {
  // esteid offers T=0 (default) and T=1.
  it('prefers T=1 when a maximal T=0 TPDU (5 + 255 + 10-byte header) does not fit', () => {
    for (const max of [64, 200, 264, 269]) {
      const d = { ...base, dwMaxCCIDMessageLength: max };
      expect(planProtocol({ atr: esteid, descriptor: d }).protocol).toBe(1);
    }
  });
  it('keeps the default T=0 when it fits, and on the SCM 263 quirk reader', () => {
    for (const max of [263, 270, 271, 65546]) {
      const d = { ...base, dwMaxCCIDMessageLength: max };
      expect(planProtocol({ atr: esteid, descriptor: d }).protocol).toBe(0);
    }
  });
  it('the caller’s preferredProtocol wins', () => {
    const d = { ...base, dwMaxCCIDMessageLength: 264 };
    expect(planProtocol({ atr: esteid, descriptor: d, preferredProtocol: 0 }).protocol).toBe(0);
  });
  it('APDU-level readers and T=0-only cards are not concerned', () => {
    const apdu = { ...base, dwFeatures: 0x00020030, dwMaxCCIDMessageLength: 264 };
    expect(planProtocol({ atr: esteid, descriptor: apdu }).protocol).toBe(0);
    const t0Only = parseAtr(fromHex('3B890056434152445F4E5353'));
    const d = { ...base, dwMaxCCIDMessageLength: 264 };
    expect(planProtocol({ atr: t0Only, descriptor: d }).protocol).toBe(0);
  });
});
