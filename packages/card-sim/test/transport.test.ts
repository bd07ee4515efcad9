import { describe, expect, it } from 'vitest';
import { buildCommandApdu } from '../src/apdu.ts';
import { bytesToHex, concatBytes, hexToBytes } from '../src/bytes.ts';
import { CCID_ERROR } from '../src/ccid-constants.ts';
import { readerProfiles, type ReaderProfile } from '../src/profiles.ts';
import { crc16 } from '../src/t1-card.ts';
import {
  createT0Card,
  createT1Card,
  loopbackAnswer,
  respond,
  type VirtualCard,
} from '../src/virtual-card.ts';
import { poweredHost } from './helpers/mini-host.ts';
import { block, decodeBlock, iBlock, rBlock, sBlock } from './helpers/t1-host.ts';

async function powered(profile: ReaderProfile, card: VirtualCard) {
  const { reader, host, atr } = await poweredHost(profile, card);
  expect(atr.status).toBe(0);
  return { reader, host };
}
const hex = bytesToHex;
const ascending = (n: number) => Uint8Array.from({ length: n }, (_, i) => i & 0xff);
/** The loopback card's ECHO (INS 0x30) with `n` ascending data bytes and `ne`. */
const echoCommand = (n: number, ne: number) =>
  buildCommandApdu({ cla: 0, ins: 0x30, p1: 0, p2: 0, data: ascending(n), ne });

describe('TPDU level, T=0 card (reader handles procedure bytes)', () => {
  it('case 1..4 TPDUs, 61xx after case 3 with data, GET RESPONSE, 6Cxx and re-issue', async () => {
    const { host } = await powered(readerProfiles.tpduT0, createT0Card());
    expect(hex((await host.xfr(hexToBytes('00 10 00 00 00'))).data)).toBe('9000'); // case 1
    const get = await host.xfr(hexToBytes('00 20 00 08 08')); // case 2, exact Le
    expect(hex(get.data)).toBe(hex(loopbackAnswer(hexToBytes('00 20 00 08 08'))));
    expect(hex((await host.xfr(hexToBytes('00 20 00 08 10'))).data)).toBe('6c08'); // wrong Le
    expect(hex((await host.xfr(hexToBytes('00 20 00 08 08'))).data)).toBe(hex(get.data)); // re-issue
    // case 4 sent as case 3: ECHO 3 bytes → 61 03, GET RESPONSE 03 → data + 9000
    expect(hex((await host.xfr(hexToBytes('00 30 00 00 03 AA BB CC'))).data)).toBe('6103');
    expect(hex((await host.xfr(hexToBytes('00 C0 00 00 03'))).data)).toBe('aabbcc9000');
    // INS 6X is refused by the card
    expect(hex((await host.xfr(hexToBytes('00 60 00 00 00'))).data)).toBe('6d00');
  });

  it('a TPDU whose data length does not match P3 fails; wLevelParameter must be 0', async () => {
    const { host } = await powered(readerProfiles.tpduT0, createT0Card());
    expect(await host.xfr(hexToBytes('00 30 00 00 05 01 02'))).toMatchObject({ error: 1 });
    expect(await host.xfr(hexToBytes('00 10 00 00 00'), { level: 1 })).toMatchObject({
      error: CCID_ERROR.BAD_LEVELPARAMETER,
    });
  });

  it('long answers of 256+ bytes: 256 bytes + 61xx', async () => {
    const { host } = await powered(
      readerProfiles.tpduT0,
      createT0Card({ process: () => respond(ascending(300), 0x9000) }),
    );
    // Le 00 and the card has 300 bytes → 256 + 61 2C
    const r = await host.xfr(hexToBytes('00 B0 00 00 00'));
    expect(r.data.length).toBe(258);
    expect(hex(r.data.subarray(256))).toBe('612c');
    const rest = await host.xfr(hexToBytes('00 C0 00 00 2C'));
    expect(rest.data.length).toBe(46);
    expect(hex(rest.data.subarray(44))).toBe('9000');
  });
});

/**
 * SetParameters the reader refuses: [bProtocolNum, abProtocolData, bError], bError being the
 * offset of the offending field in the message (CCID §6.2.6).
 */
const badSetParameters: [b7: number, data: string, error: number][] = [
  [2, '1100000a00', 7], // bProtocolNum 2
  [0, '11000a00', 1], // dwLength: T=0 takes 5 bytes
  [0, '7100000a00', 10], // bmFindexDindex: FI 7 RFU
  [0, '1104000a00', 11], // bmTCCKST0
  [0, '1100000a04', 14], // bClockStop
  [1, '11100045000000', 15], // bIFSC 0
  [1, '11100045002001', 16], // bNadValue without dwFeatures 0x200
];

describe('parameters and PPS at TPDU level', () => {
  it('GetParameters / SetParameters validation / ResetParameters', async () => {
    const { host, reader } = await powered(
      readerProfiles.tpduT1NoAuto,
      createT0Card({ ta1: 0x13 }),
    );
    const get = await host.command(0x6c);
    expect([get.type, get.b9, hex(get.data)]).toEqual([0x82, 0, '1100000a00']);
    for (const [b7, data, error] of badSetParameters) {
      expect(await host.command(0x61, { b7, data: hexToBytes(data) })).toMatchObject({ error });
    }
    const ok = await host.command(0x61, { b7: 0, data: hexToBytes('1100000a00') });
    expect([ok.status, ok.b9, hex(ok.data)]).toEqual([0, 0, '1100000a00']);
    expect(reader.slotState().readerProtocol).toBe(0);
    const reset = await host.command(0x6d);
    expect(reset.type).toBe(0x82);
  });

  it('without auto-PPS the host must send the PPS itself before a faster SetParameters', async () => {
    const { host, reader } = await powered(
      readerProfiles.tpduT1NoAuto,
      createT0Card({ ta1: 0x13 }),
    );
    // SetParameters at TA1 speed without PPS: the reader changes speed, the card does not → mute
    expect((await host.command(0x61, { b7: 0, data: hexToBytes('1300000a00') })).status).toBe(0);
    expect(await host.xfr(hexToBytes('00 10 00 00 00'))).toMatchObject({
      error: CCID_ERROR.ICC_MUTE,
    });
    // after a reset: PPS first (echoed), then SetParameters → exchanges work
    await host.powerOn();
    const pps = hexToBytes('FF 10 13 FC');
    expect(hex((await host.xfr(pps)).data)).toBe(hex(pps));
    expect(reader.slotState()).toMatchObject({ cardFidi: 0x13, ppsDone: true });
    expect(await host.xfr(hexToBytes('00 10 00 00 00'))).toMatchObject({
      error: CCID_ERROR.ICC_MUTE,
    }); // reader still at Fd/Dd
    await host.command(0x61, { b7: 0, data: hexToBytes('1300000a00') });
    expect(hex((await host.xfr(hexToBytes('00 10 00 00 00'))).data)).toBe('9000');
  });

  it('a PPS the card cannot do gets no answer; a PPS after another exchange is not a PPS', async () => {
    const { host, reader } = await powered(
      readerProfiles.tpduT1NoAuto,
      createT0Card({ ta1: 0x13 }),
    );
    expect(await host.xfr(hexToBytes('FF 10 18 F7'))).toMatchObject({ error: CCID_ERROR.ICC_MUTE });
    expect(await host.xfr(hexToBytes('00 10 00 00 00'))).toMatchObject({
      error: CCID_ERROR.ICC_MUTE,
    }); // needs reset
    await host.powerOn();
    await host.xfr(hexToBytes('00 10 00 00 00'));
    // now FF 10 13 FC is a (malformed) TPDU, not a PPS
    expect(await host.xfr(hexToBytes('FF 10 13 FC'))).toMatchObject({ error: 1 });
    expect(reader.slotState()).toMatchObject({ ppsDone: false, cardFidi: 0x11 });
  });

  it('with auto-PPS (0x80) SetParameters makes the reader negotiate', async () => {
    const { host, reader } = await powered(
      readerProfiles.vendorClass,
      createT1Card({ alsoT0: true, t0First: true, ta1: 0x13 }),
    );
    const sp = await host.command(0x61, { b7: 1, data: hexToBytes('13100045002000') });
    expect(sp.status).toBe(0);
    expect(reader.slotState()).toMatchObject({
      cardProtocol: 1,
      cardFidi: 0x13,
      readerProtocol: 1,
    });
    const r = await host.xfr(iBlock(0, false, hexToBytes('00 40 90 00')));
    expect(hex(decodeBlock(r.data).inf)).toBe('9000');
  });
});

describe('TPDU level, T=1 card (host speaks blocks)', () => {
  async function t1(card: VirtualCard, profile = readerProfiles.tpduT1NoAuto) {
    const ctx = await powered(profile, card);
    expect(
      (await ctx.host.command(0x61, { b7: 1, data: hexToBytes('11100045002000') })).status,
    ).toBe(0);
    return ctx;
  }

  it('IFSD is 32 until the host negotiates it (no 0x400); S(IFS) echoes', async () => {
    const { host, reader } = await t1(createT1Card({ ifsc: 254 }));
    expect(reader.slotState().t1).toMatchObject({ ifsd: 32, ifsdNegotiated: false });
    const r = await host.xfr(sBlock(0xc1, Uint8Array.of(247)));
    expect(hex(r.data)).toBe(hex(block(0xe1, Uint8Array.of(247))));
    expect(reader.slotState().t1).toMatchObject({ ifsd: 247, ifsdNegotiated: true });
  });

  it('auto-IFSD readers (0x400) negotiate themselves', async () => {
    const profile = { ...readerProfiles.tpduT1NoAuto, features: 0x00010430, id: 'autoIfsd' };
    const { reader } = await t1(createT1Card(), profile);
    expect(reader.slotState().t1).toMatchObject({ ifsd: 247, ifsdNegotiated: true });
  });

  it('chains both ways by IFSC (host→card) and IFSD (card→host)', async () => {
    const { host } = await t1(createT1Card({ ifsc: 16 }));
    const apdu = echoCommand(40, 256);
    const expected = loopbackAnswer(apdu);
    // host → card: 46 bytes in chunks of 16
    let ns = 0;
    let r;
    for (let at = 0; at < apdu.length; at += 16) {
      const more = at + 16 < apdu.length;
      r = decodeBlock((await host.xfr(iBlock(ns, more, apdu.subarray(at, at + 16)))).data);
      ns ^= 1;
      if (more) expect(r.pcb).toBe(0x80 | (ns << 4)); // R(N(R) = next)
    }
    // card → host in 32-byte pieces (IFSD default 32)
    const got: Uint8Array[] = [];
    let cardNs = 0;
    for (;;) {
      expect(r!.isEdcOk).toBe(true);
      expect((r!.pcb >> 6) & 1).toBe(cardNs);
      got.push(r!.inf);
      expect(r!.inf.length).toBeLessThanOrEqual(32);
      cardNs ^= 1;
      if (!(r!.pcb & 0x20)) break;
      r = decodeBlock((await host.xfr(rBlock(cardNs))).data);
    }
    expect(hex(concatBytes(...got))).toBe(hex(expected));
  });

  it('WTX request before the answer; EDC error → R-block; R-block → retransmission; RESYNCH', async () => {
    const { host } = await t1(createT1Card({ wtxEvery: 1, wtxMultiplier: 3 }));
    const apdu = hexToBytes('00 40 90 00');
    let r = decodeBlock((await host.xfr(iBlock(0, false, apdu))).data);
    expect([r.pcb, hex(r.inf)]).toEqual([0xc3, '03']);
    r = decodeBlock((await host.xfr(sBlock(0xe3, Uint8Array.of(3)))).data);
    expect([r.pcb, hex(r.inf)]).toEqual([0x00, '9000']);
    // host claims it did not get it: card retransmits
    const again = decodeBlock((await host.xfr(rBlock(0, 2))).data);
    expect([again.pcb, hex(again.inf)]).toEqual([0x00, '9000']);
    // corrupted host block → R(N(R) = 1, EDC error)
    const bad = iBlock(1, false, apdu);
    bad[bad.length - 1] = bad[bad.length - 1]! ^ 0xff;
    expect(decodeBlock((await host.xfr(bad)).data).pcb).toBe(0x91);
    // resynch
    expect(decodeBlock((await host.xfr(sBlock(0xc0))).data).pcb).toBe(0xe0);
    const afterWtx = decodeBlock((await host.xfr(iBlock(0, false, apdu))).data);
    expect(afterWtx.pcb).toBe(0xc3);
  });

  it('card S(IFS request) before its first answer', async () => {
    const { host } = await t1(createT1Card({ requestIfsc: 64 }));
    let r = decodeBlock((await host.xfr(iBlock(0, false, hexToBytes('00 40 90 00')))).data);
    expect([r.pcb, hex(r.inf)]).toEqual([0xc1, '40']);
    r = decodeBlock((await host.xfr(sBlock(0xe1, Uint8Array.of(64)))).data);
    expect([r.pcb, hex(r.inf)]).toEqual([0x00, '9000']);
  });

  it('CRC cards use the libccid CRC (check value 6F91)', async () => {
    expect(hex(crc16(new TextEncoder().encode('123456789')))).toBe('6f91');
    const { host } = await t1(createT1Card({ edc: 'crc' }));
    const body = Uint8Array.of(0, 0, 4, 0, 0x40, 0x90, 0);
    const r = await host.xfr(concatBytes(body, crc16(body)));
    expect(r.data.length).toBe(3 + 2 + 2);
    expect(hex(r.data.subarray(5))).toBe(hex(crc16(r.data.subarray(0, 5))));
  });

  it('without SetParameters T=1, the reader still talks T=0 and the card stays mute', async () => {
    const { host } = await powered(readerProfiles.tpduT1NoAuto, createT1Card());
    expect(await host.xfr(iBlock(0, false, hexToBytes('00 40 90 00')))).toMatchObject({
      error: CCID_ERROR.ICC_MUTE,
    });
  });
});

describe('APDU levels', () => {
  it('short APDU level: a T=0 card behind an automatic reader gets GET RESPONSE done by the reader', async () => {
    const { host } = await powered(readerProfiles.shortApdu, createT0Card());
    const apdu = echoCommand(20, 256);
    expect(hex((await host.xfr(apdu)).data)).toBe(hex(loopbackAnswer(apdu)));
    const wrongLe = hexToBytes('00 20 00 08 10');
    expect(hex((await host.xfr(wrongLe)).data)).toBe(
      hex(loopbackAnswer(hexToBytes('00 20 00 08 08'))),
    );
  });

  it('passthrough reader (AK9563) returns 61xx and 6Cxx to the host', async () => {
    const { host } = await powered(readerProfiles.packet16, createT0Card());
    expect(hex((await host.xfr(hexToBytes('00 30 00 00 03 01 02 03 00'))).data)).toBe('6103');
    expect(hex((await host.xfr(hexToBytes('00 20 00 08 10'))).data)).toBe('6c08');
  });

  it('short APDU level refuses more than dwMaxCCIDMessageLength - 10 and non-zero wLevelParameter', async () => {
    const { host } = await powered(readerProfiles.shortApdu, createT1Card());
    expect(await host.xfr(hexToBytes('00 10 00 00'), { level: 1 })).toMatchObject({
      error: CCID_ERROR.BAD_LEVELPARAMETER,
    });
  });

  it('extended APDU level chains commands (01/03/02) and responses (01/03/02 with 0x10 pulls)', async () => {
    const { host } = await powered(readerProfiles.extendedApdu, createT1Card());
    const apdu = echoCommand(600, 65536);
    const max = readerProfiles.extendedApdu.maxMessageLength - 10;
    const chunks = [];
    for (let at = 0; at < apdu.length; at += max) chunks.push(apdu.subarray(at, at + max));
    let r;
    for (let i = 0; i < chunks.length; i++) {
      const level = chunks.length === 1 ? 0 : i === 0 ? 1 : i === chunks.length - 1 ? 2 : 3;
      r = await host.xfr(chunks[i]!, { level });
      if (level === 1 || level === 3) expect([r.b9, r.data.length]).toEqual([0x10, 0]);
    }
    const parts = [r!.data];
    const chain = [r!.b9];
    while (r!.b9 === 0x01 || r!.b9 === 0x03) {
      r = await host.xfr(new Uint8Array(0), { level: 0x10 });
      parts.push(r.data);
      chain.push(r.b9);
    }
    expect(chain).toEqual([1, 3, 2]);
    expect(hex(concatBytes(...parts))).toBe(hex(loopbackAnswer(apdu)));
    expect(await host.xfr(new Uint8Array(0), { level: 0x10 })).toMatchObject({
      error: CCID_ERROR.BAD_LEVELPARAMETER,
    });
    expect(await host.xfr(hexToBytes('00 10 00 00'), { level: 3 })).toMatchObject({
      error: CCID_ERROR.BAD_LEVELPARAMETER,
    });
  });

  it('APDU-level readers answer a T=1 card directly', async () => {
    const { host } = await powered(readerProfiles.noInterrupt, createT1Card());
    const apdu = hexToBytes('00 20 00 FF 00');
    expect(hex((await host.xfr(apdu)).data)).toBe(hex(loopbackAnswer(apdu)));
  });
});
