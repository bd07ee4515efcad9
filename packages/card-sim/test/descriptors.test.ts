import { describe, expect, it } from 'vitest';
import { readerProfiles, type ReaderProfile } from '../src/profiles.ts';
import { SimulatedReader } from '../src/simulated-reader.ts';

/** Independent little parser of a configuration descriptor (USB 2.0 §9.6.3-9.6.6, CCID §5.1). */
function parseConfig(bytes: Uint8Array) {
  const view = (i: number) => bytes[i]!;
  const le16 = (i: number) => view(i) | (view(i + 1) << 8);
  const le32 = (i: number) => (le16(i) | (le16(i + 2) << 16)) >>> 0;
  const out = {
    totalLength: le16(2),
    interfaces: [] as { cls: number; numEndpoints: number }[],
    endpoints: [] as { address: number; attributes: number; packetSize: number }[],
    ccid: null as null | Record<string, number>,
    ccidAfterEndpoints: false,
  };
  let i = 0;
  while (i < bytes.length) {
    const len = view(i);
    const type = view(i + 1);
    expect(len).toBeGreaterThan(1);
    if (type === 0x04) out.interfaces.push({ cls: view(i + 5), numEndpoints: view(i + 4) });
    if (type === 0x05)
      out.endpoints.push({
        address: view(i + 2),
        attributes: view(i + 3),
        packetSize: le16(i + 4),
      });
    if (len === 0x36 && (type === 0x21 || type === 0xff)) {
      out.ccidAfterEndpoints = out.endpoints.length > 0;
      out.ccid = {
        type,
        bcdCCID: le16(i + 2),
        bMaxSlotIndex: view(i + 4),
        bVoltageSupport: view(i + 5),
        dwProtocols: le32(i + 6),
        dwDefaultClock: le32(i + 10),
        dwMaximumClock: le32(i + 14),
        bNumClockSupported: view(i + 18),
        dwDataRate: le32(i + 19),
        dwMaxDataRate: le32(i + 23),
        bNumDataRatesSupported: view(i + 27),
        dwMaxIFSD: le32(i + 28),
        dwSynchProtocols: le32(i + 32),
        dwMechanical: le32(i + 36),
        dwFeatures: le32(i + 40),
        dwMaxCCIDMessageLength: le32(i + 44),
        bClassGetResponse: view(i + 48),
        bClassEnvelope: view(i + 49),
        wLcdLayout: le16(i + 50),
        bPINSupport: view(i + 52),
        bMaxCCIDBusySlots: view(i + 53),
      };
    }
    i += len;
  }
  return out;
}

async function opened(p: ReaderProfile) {
  const reader = new SimulatedReader({ profile: p });
  await reader.device.open();
  return reader;
}

const getDescriptor = (value: number, length: number, device: USBDevice) =>
  device.controlTransferIn(
    { requestType: 'standard', recipient: 'device', request: 0x06, value, index: 0 },
    length,
  );

const bytesOf = (r: USBInTransferResult) =>
  new Uint8Array(r.data!.buffer, r.data!.byteOffset, r.data!.byteLength);

describe.each(Object.values(readerProfiles))('descriptors of $id', (p) => {
  it('configuration descriptor parses back to the profile values', async () => {
    const { device } = await opened(p);
    const head = bytesOf(await getDescriptor(0x0200, 9, device));
    expect(head.length).toBe(9);
    const total = head[2]! | (head[3]! << 8);
    const full = bytesOf(await getDescriptor(0x0200, total, device));
    expect(full.length).toBe(total);
    const c = parseConfig(full);
    expect(c.totalLength).toBe(total);
    expect(c.interfaces).toEqual([
      { cls: p.interfaceClass, numEndpoints: p.hasInterruptEndpoint ? 3 : 2 },
    ]);
    expect(c.ccidAfterEndpoints).toBe(p.classDescriptorPosition === 'after-endpoints');
    expect(c.ccid).toEqual({
      type: p.classDescriptorType,
      bcdCCID: p.bcdCcid,
      bMaxSlotIndex: p.maxSlotIndex,
      bVoltageSupport: p.voltageSupport,
      dwProtocols: p.protocols,
      dwDefaultClock: p.defaultClockKhz,
      dwMaximumClock: p.maxClockKhz,
      bNumClockSupported: p.numClocksSupported,
      dwDataRate: p.dataRate,
      dwMaxDataRate: p.maxDataRate,
      bNumDataRatesSupported: p.numDataRatesSupported,
      dwMaxIFSD: p.maxIfsd,
      dwSynchProtocols: p.synchProtocols,
      dwMechanical: p.mechanical,
      dwFeatures: p.features,
      dwMaxCCIDMessageLength: p.maxMessageLength,
      bClassGetResponse: p.classGetResponse,
      bClassEnvelope: p.classEnvelope,
      wLcdLayout: p.lcdLayout,
      bPINSupport: p.pinSupport,
      bMaxCCIDBusySlots: p.maxBusySlots,
    });
    // Endpoints: bulk OUT, bulk IN, optional interrupt IN, sizes as in the WebUSB objects.
    const alt = device.configuration!.interfaces[0]!.alternate;
    expect(alt.interfaceClass).toBe(p.interfaceClass);
    expect(c.endpoints.length).toBe(alt.endpoints.length);
    for (const ep of alt.endpoints) {
      const d = c.endpoints.find(
        (e) =>
          (e.address & 0x0f) === ep.endpointNumber &&
          !!(e.address & 0x80) === (ep.direction === 'in'),
      )!;
      expect(d.packetSize).toBe(ep.packetSize);
      expect(d.attributes & 3).toBe(ep.type === 'bulk' ? 2 : 3);
    }
  });

  it('device and string descriptors match the USBDevice fields', async () => {
    const { device } = await opened(p);
    const d = bytesOf(await getDescriptor(0x0100, 18, device));
    expect(d[0]).toBe(18);
    expect(d[8]! | (d[9]! << 8)).toBe(p.vendorId);
    expect(d[10]! | (d[11]! << 8)).toBe(p.productId);
    expect(device.vendorId).toBe(p.vendorId);
    const str = (idx: number) => getDescriptor(0x0300 | idx, 255, device).then(bytesOf);
    const text = (b: Uint8Array) =>
      String.fromCharCode(
        ...Array.from({ length: (b[0]! - 2) / 2 }, (_, i) => b[2 + i * 2]! | (b[3 + i * 2]! << 8)),
      );
    expect(text(await str(d[15]!))).toBe(device.productName);
    expect(text(await str(d[14]!))).toBe(device.manufacturerName);
    expect(Array.from(await str(0))).toEqual([4, 3, 0x09, 0x04]);
    expect((await getDescriptor(0x0300 | 9, 255, device)).status).toBe('stall');
  });

  it('GET_CLOCK_FREQUENCIES / GET_DATA_RATES answer like the dump (list or stall)', async () => {
    const reader = await opened(p);
    const { device } = reader;
    await device.claimInterface(0);
    for (const [request, table] of [
      [0x02, p.clockFrequenciesKhz],
      [0x03, p.dataRates],
    ] as const) {
      const r = await device.controlTransferIn(
        { requestType: 'class', recipient: 'interface', request, value: 0, index: 0 },
        1024,
      );
      if (table === 'stall') {
        expect(r.status).toBe('stall');
      } else {
        const b = bytesOf(r);
        const values = Array.from(
          { length: b.length / 4 },
          (_, i) =>
            (b[i * 4]! | (b[i * 4 + 1]! << 8) | (b[i * 4 + 2]! << 16) | (b[i * 4 + 3]! << 24)) >>>
            0,
        );
        expect(values).toEqual([...table]);
      }
    }
  });
});

describe('class requests need a claimed interface', () => {
  it('rejects like Chrome before claimInterface', async () => {
    const { device } = await opened(readerProfiles.tpduT0);
    await expect(
      device.controlTransferIn(
        { requestType: 'class', recipient: 'interface', request: 2, value: 0, index: 0 },
        4,
      ),
    ).rejects.toMatchObject({
      name: 'InvalidStateError',
      message: 'The specified interface has not been claimed.',
    });
  });
});
