import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import { beforeAll, describe, expect, it } from 'vitest';
import { buildCommandApdu } from '../src/apdu.ts';
import { bytesToHex, concatBytes, hexToBytes } from '../src/bytes.ts';
import { parseSimAtr } from '../src/atr.ts';
import { getDefaultPivCredentials, type PivCredentials } from '../src/piv/credentials.ts';
import { createPivDemoCard, PIV_AID, type PivDemoCard } from '../src/piv/piv-card.ts';
import { findTlv, parseTlvs } from '../src/piv/tlv.ts';
import { readerProfiles } from '../src/profiles.ts';
import { poweredHost } from './helpers/mini-host.ts';
import { signCommand, signTemplate } from './helpers/piv-commands.ts';
import { transmitT0 } from './helpers/t0-host.ts';

let credentials: PivCredentials;
beforeAll(async () => {
  credentials = await getDefaultPivCredentials();
}, 30_000);

const sw = (r: Uint8Array) => ((r[r.length - 2]! << 8) | r[r.length - 1]!) >>> 0;
const body = (r: Uint8Array) => r.subarray(0, r.length - 2);
const pinBlock = (pin: string) => {
  const b = new Uint8Array(8).fill(0xff);
  for (let i = 0; i < pin.length; i++) b[i] = pin.charCodeAt(i);
  return b;
};

/** Sends a short APDU and follows 61xx like OpenSC does (GET RESPONSE, Le = SW2). */
async function send(card: PivDemoCard, apdu: Uint8Array): Promise<Uint8Array> {
  let r = await card.process(apdu);
  const parts: Uint8Array[] = [];
  while (r[r.length - 2] === 0x61) {
    parts.push(body(r));
    r = await card.process(Uint8Array.of(0x00, 0xc0, 0x00, 0x00, r[r.length - 1]!));
  }
  return concatBytes(...parts, r);
}

const getData = (tag: number[]) =>
  buildCommandApdu({
    cla: 0,
    ins: 0xcb,
    p1: 0x3f,
    p2: 0xff,
    data: Uint8Array.of(0x5c, tag.length, ...tag),
    ne: 256,
  });

/** OpenSC-style chained GENERAL AUTHENTICATE (CLA 10 for all but the last chunk). */
async function generalAuthenticate(card: PivDemoCard, block: Uint8Array): Promise<Uint8Array> {
  const data = signTemplate(block);
  let r: Uint8Array = new Uint8Array(0);
  for (let at = 0; at < data.length; at += 255) {
    const chunk = data.subarray(at, at + 255);
    const last = at + 255 >= data.length;
    r = await card.process(
      buildCommandApdu({
        cla: last ? 0x00 : 0x10,
        ins: 0x87,
        p1: 0x07,
        p2: 0x9a,
        data: chunk,
        ...(last ? { ne: 256 } : {}),
      }),
    );
    if (!last) expect(sw(r)).toBe(0x9000);
  }
  const parts: Uint8Array[] = [];
  while (r[r.length - 2] === 0x61) {
    parts.push(body(r));
    r = await card.process(Uint8Array.of(0x00, 0xc0, 0x00, 0x00, r[r.length - 1]!));
  }
  return concatBytes(...parts, r);
}

const parseLike = (apdu: Uint8Array) => ({
  cla: apdu[0]!,
  ins: apdu[1]!,
  p1: apdu[2]!,
  p2: apdu[3]!,
  data: apdu.subarray(5, 5 + apdu[4]!),
  ne: 256,
});

async function pkcs1Sha256(message: Uint8Array): Promise<Uint8Array> {
  const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', message));
  const info = concatBytes(hexToBytes('3031300d060960864801650304020105000420'), digest);
  const block = new Uint8Array(256).fill(0xff);
  block[0] = 0;
  block[1] = 1;
  block[256 - info.length - 1] = 0;
  block.set(info, 256 - info.length);
  return block;
}

describe('PIV demo card', () => {
  it('has an ATR offering T=0 and T=1', async () => {
    const card = await createPivDemoCard({ credentials });
    expect(parseSimAtr(card.atr).protocols).toEqual([0, 1]);
    expect(card.protocols).toEqual([0, 1]);
  });

  it('SELECT by the truncated PIV AID returns the application property template', async () => {
    const card = await createPivDemoCard({ credentials });
    const r = await card.process(
      buildCommandApdu({ cla: 0, ins: 0xa4, p1: 4, p2: 0, data: PIV_AID.subarray(0, 9), ne: 256 }),
    );
    expect(sw(r)).toBe(0x9000);
    const apt = findTlv(body(r), 0x61)!;
    expect(bytesToHex(findTlv(apt, 0x4f)!)).toBe('000010000100');
    expect(bytesToHex(findTlv(findTlv(apt, 0x79)!, 0x4f)!)).toBe('a000000308');
    const other = await card.process(hexToBytes('00 A4 04 00 07 A0 00 00 00 03 10 10 00'));
    expect(sw(other)).toBe(0x6a82);
  });

  it('GET DATA returns discovery, CHUID and the certificate object (chained via 61xx)', async () => {
    const card = await createPivDemoCard({ credentials });
    const disc = await send(card, getData([0x7e]));
    expect(sw(disc)).toBe(0x9000);
    expect(bytesToHex(body(disc))).toBe('7e124f0ba0000003080000100001005f2f024000');
    const chuid = await send(card, getData([0x5f, 0xc1, 0x02]));
    expect(findTlv(findTlv(body(chuid), 0x53)!, 0x34)!.length).toBe(16);
    const first = await card.process(getData([0x5f, 0xc1, 0x05]));
    expect(first[first.length - 2]).toBe(0x61);
    const obj = await send(card, getData([0x5f, 0xc1, 0x05]));
    expect(sw(obj)).toBe(0x9000);
    const inner = findTlv(body(obj), 0x53)!;
    const tags = parseTlvs(inner)!.map((t) => t.tag);
    expect(tags).toEqual([0x70, 0x71, 0xfe]);
    const der = findTlv(inner, 0x70)!;
    expect(der.length).toBeGreaterThan(500);
    expect(bytesToHex(der)).toBe(bytesToHex(credentials.certificateDer));
    const cert = new x509.X509Certificate(der);
    expect(cert.subject).toContain('cardlend demo PIV');
    expect(sw(await card.process(getData([0x5f, 0xc1, 0x0a])))).toBe(0x6a82);
    expect(sw(await card.process(getData([0x5f, 0xc1, 0x07])))).toBe(0x6a82);
  });

  it('VERIFY: retry counter, wrong PINs, block, PUK reset', async () => {
    const card = await createPivDemoCard({ credentials, pin: '654321' });
    const verify = (pin?: string) =>
      card.process(
        buildCommandApdu({
          cla: 0,
          ins: 0x20,
          p1: 0,
          p2: 0x80,
          ...(pin ? { data: pinBlock(pin) } : {}),
        }),
      );
    expect(sw(await verify())).toBe(0x63c3);
    expect(sw(await verify('111111'))).toBe(0x63c2);
    expect(sw(await verify('654321'))).toBe(0x9000);
    expect(sw(await verify())).toBe(0x9000);
    expect(card.isPinVerified).toBe(true);
    expect(sw(await card.process(hexToBytes('00 20 FF 80')))).toBe(0x9000);
    expect(card.isPinVerified).toBe(false);
    expect(sw(await verify('000000'))).toBe(0x63c2);
    expect(sw(await verify('000001'))).toBe(0x63c1);
    expect(sw(await verify('000002'))).toBe(0x6983);
    expect(sw(await verify('654321'))).toBe(0x6983);
    expect(card.pinTriesRemaining).toBe(0);
    const reset = await card.process(
      buildCommandApdu({
        cla: 0,
        ins: 0x2c,
        p1: 0,
        p2: 0x80,
        data: concatBytes(pinBlock('12345678'), pinBlock('111222')),
      }),
    );
    expect(sw(reset)).toBe(0x9000);
    expect(sw(await verify('111222'))).toBe(0x9000);
  });

  it('GENERAL AUTHENTICATE signs with the 9A key; the signature verifies against the certificate', async () => {
    const card = await createPivDemoCard({ credentials });
    const message = new TextEncoder().encode('lend me your card');
    const block = await pkcs1Sha256(message);
    expect(sw(await generalAuthenticate(card, block))).toBe(0x6982); // PIN first
    expect(
      sw(
        await card.process(
          buildCommandApdu({ cla: 0, ins: 0x20, p1: 0, p2: 0x80, data: pinBlock('123456') }),
        ),
      ),
    ).toBe(0x9000);
    const r = await generalAuthenticate(card, block);
    expect(sw(r)).toBe(0x9000);
    const sig = findTlv(findTlv(body(r), 0x7c)!, 0x82)!;
    expect(sig.length).toBe(256);
    const cert = new x509.X509Certificate(credentials.certificateDer);
    const key = await cert.publicKey.export(
      { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' },
      ['verify'],
      crypto,
    );
    expect(await crypto.subtle.verify('RSASSA-PKCS1-v1_5', key, sig, message)).toBe(true);
  });

  it('GENERAL AUTHENTICATE with the P-256 key 9E (no PIN) verifies against the 9E certificate', async () => {
    const card = await createPivDemoCard({ credentials });
    const obj = await send(card, getData([0x5f, 0xc1, 0x01]));
    expect(sw(obj)).toBe(0x9000);
    const der = findTlv(findTlv(body(obj), 0x53)!, 0x70)!;
    expect(bytesToHex(der)).toBe(bytesToHex(credentials.ecCertificateDer!));
    const message = new TextEncoder().encode('card authentication');
    const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', message));
    const apdu = signCommand(0x11, 0x9e, digest, 256);
    const r = await card.process(apdu);
    expect(sw(r)).toBe(0x9000);
    const sigDer = findTlv(findTlv(body(r), 0x7c)!, 0x82)!;
    // DER SEQUENCE { INTEGER r, INTEGER s } → raw r || s for WebCrypto
    const ints = parseTlvs(findTlv(sigDer, 0x30)!)!.map((t) => t.value);
    const fix = (v: Uint8Array) => {
      const x = v[0] === 0 ? v.subarray(1) : v;
      const out = new Uint8Array(32);
      out.set(x, 32 - x.length);
      return out;
    };
    const raw = concatBytes(fix(ints[0]!), fix(ints[1]!));
    const cert = new x509.X509Certificate(der);
    const key = await cert.publicKey.export(
      { name: 'ECDSA', namedCurve: 'P-256' },
      ['verify'],
      crypto,
    );
    expect(await crypto.subtle.verify({ name: 'ECDSA', hash: 'SHA-256' }, key, raw, message)).toBe(
      true,
    );
    expect(sw(await card.process(buildCommandApdu({ ...parseLike(apdu), p1: 0x07 })))).toBe(0x6a86);
  });

  it.each([
    ['a link for another INS', '1087079a0101', '00cb3fff055c035fc102'],
    ['a last command for another P2', '1087079a0101', '0087079e0101'],
  ])(
    'command chaining: %s breaks the chain (6883), then the card works again',
    async (_n, link, other) => {
      const card = await createPivDemoCard({ credentials });
      expect(sw(await card.process(hexToBytes(link)))).toBe(0x9000);
      expect(sw(await card.process(hexToBytes(other)))).toBe(0x6883);
      expect(sw(await send(card, getData([0x5f, 0xc1, 0x02])))).toBe(0x9000);
    },
  );

  it('short-APDU reader with automatic GET RESPONSE: long answers never exceed the message size', async () => {
    const card = await createPivDemoCard({ credentials });
    const { host } = await poweredHost(readerProfiles.shortApdu, card);
    const apduLoop = async (apdu: Uint8Array) => {
      let r = await host.xfr(apdu);
      expect(r.status).toBe(0);
      const parts: Uint8Array[] = [];
      while (r.data[r.data.length - 2] === 0x61) {
        parts.push(body(r.data));
        r = await host.xfr(Uint8Array.of(0, 0xc0, 0, 0, r.data[r.data.length - 1]!));
        expect(r.status).toBe(0);
      }
      return concatBytes(...parts, r.data);
    };
    const obj = await apduLoop(getData([0x5f, 0xc1, 0x05]));
    expect(bytesToHex(findTlv(findTlv(body(obj), 0x53)!, 0x70)!)).toBe(
      bytesToHex(credentials.certificateDer),
    );
  });

  it('works end to end through a TPDU T=0 reader (61xx / GET RESPONSE by the host)', async () => {
    const card = await createPivDemoCard({ credentials });
    const { host, atr } = await poweredHost(readerProfiles.tpduT0, card);
    expect(bytesToHex(atr.data)).toBe(bytesToHex(card.atr));
    const sel = await transmitT0(
      host,
      buildCommandApdu({ cla: 0, ins: 0xa4, p1: 4, p2: 0, data: PIV_AID.subarray(0, 9), ne: 256 }),
    );
    expect(sw(sel)).toBe(0x9000);
    const obj = await transmitT0(host, getData([0x5f, 0xc1, 0x05]));
    expect(sw(obj)).toBe(0x9000);
    expect(bytesToHex(findTlv(findTlv(body(obj), 0x53)!, 0x70)!)).toBe(
      bytesToHex(credentials.certificateDer),
    );
  });
});
