import { describe, expect, it } from 'vitest';
import { readerProfiles } from '../src/profiles.ts';
import { SimulatedReader } from '../src/simulated-reader.ts';
import { createT0Card, createT1Card } from '../src/virtual-card.ts';
import { decodeReply, encodeCommand, MiniHost } from './helpers/mini-host.ts';

const raw = (r: USBInTransferResult) =>
  new Uint8Array(r.data!.buffer, r.data!.byteOffset, r.data!.byteLength);

/** GET (INS 20) with P1P2 = n returns n data bytes: response message = 10 + n + 2 bytes. */
const getApdu = (n: number) => Uint8Array.of(0x00, 0x20, n >> 8, n & 0xff, n & 0xff);

async function ready(profile = readerProfiles.shortApdu) {
  const reader = new SimulatedReader({ profile });
  reader.insertCard(createT1Card());
  const host = new MiniHost(reader);
  await host.open();
  await host.powerOn();
  return { reader, host };
}

describe('bulk-IN packetisation', () => {
  it('a read of one packet size returns one packet; a packet-multiple message ends with a ZLP', async () => {
    const { host, reader } = await ready();
    // 64 * 2 = 128-byte message: 10 header + 116 data + 2 SW
    await host.write(encodeCommand(0x6f, { seq: 1, data: getApdu(116) }));
    const a = raw(await reader.device.transferIn(2, 64));
    const b = raw(await reader.device.transferIn(2, 64));
    const z = await reader.device.transferIn(2, 64);
    expect([a.length, b.length, raw(z).length]).toEqual([64, 64, 0]);
    expect(z.status).toBe('ok');
    const msg = decodeReply(Uint8Array.of(...a, ...b));
    expect(msg.data.length).toBe(118);
  });

  it('a large read collects packets until the short packet', async () => {
    const { host, reader } = await ready();
    await host.write(encodeCommand(0x6f, { seq: 1, data: getApdu(100) }));
    const r = raw(await reader.device.transferIn(2, 4096));
    expect(r.length).toBe(112);
  });

  it('a read shorter than the packet babbles', async () => {
    const { host, reader } = await ready();
    await host.write(encodeCommand(0x6f, { seq: 1, data: getApdu(100) }));
    const r = await reader.device.transferIn(2, 10);
    expect(r.status).toBe('babble');
  });

  it('16-byte packets on the packet16 profile, delivered asynchronously', async () => {
    const reader = new SimulatedReader({ profile: readerProfiles.packet16 });
    reader.insertCard(createT0Card());
    const host = new MiniHost(reader);
    await host.open();
    const read = reader.device.transferIn(2, 16); // pending before the command
    await host.write(encodeCommand(0x62, { seq: 0 }));
    const first = raw(await read);
    expect(first.length).toBe(16);
    expect(first[0]).toBe(0x80);
  });

  it('a command split over several bulk-OUT transfers is reassembled by dwLength', async () => {
    const { host, reader } = await ready();
    const cmd = encodeCommand(0x6f, { seq: 8, data: getApdu(3) });
    for (let i = 0; i < cmd.length; i += 3)
      await reader.device.transferOut(1, cmd.subarray(i, i + 3));
    const r = await host.read();
    expect(r.seq).toBe(8);
    expect(r.data.length).toBe(5);
  });
});
