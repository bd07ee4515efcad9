/**
 * Standard USB descriptors (USB 2.0 §9.6) and the 54-byte CCID class descriptor (CCID Rev 1.1
 * §5.1) for a reader profile, exactly as a GET_DESCRIPTOR control transfer returns them.
 */
import { writeLe16, writeLe32 } from './bytes.ts';
import type { ReaderProfile } from './profiles.ts';

/** Endpoint addresses used by every simulated reader (bit 7 = IN). */
export const ENDPOINT = { bulkOut: 0x01, bulkIn: 0x82, interruptIn: 0x83 } as const;

/** String descriptor indexes. */
export const STRING_INDEX = { manufacturer: 1, product: 2, serialNumber: 3, interface: 0 } as const;

/** USB device descriptor, 18 bytes (USB 2.0 §9.6.1). bcdUSB 2.00, class defined per interface. */
export function buildDeviceDescriptor(p: ReaderProfile): Uint8Array {
  const d = new Uint8Array(18);
  d[0] = 18;
  d[1] = 0x01;
  writeLe16(d, 2, 0x0200);
  d[4] = 0; // bDeviceClass: per interface
  d[5] = 0;
  d[6] = 0;
  d[7] = 64; // bMaxPacketSize0
  writeLe16(d, 8, p.vendorId);
  writeLe16(d, 10, p.productId);
  const [maj, min, sub] = p.deviceVersion;
  writeLe16(d, 12, (Math.floor(maj / 10) << 12) | ((maj % 10) << 8) | (min << 4) | sub);
  d[14] = STRING_INDEX.manufacturer;
  d[15] = STRING_INDEX.product;
  d[16] = STRING_INDEX.serialNumber;
  d[17] = 1; // bNumConfigurations
  return d;
}

/** The 54-byte CCID class descriptor (CCID §5.1, offsets as in ccid.md §2.3). */
export function buildCcidClassDescriptor(p: ReaderProfile): Uint8Array {
  const d = new Uint8Array(54);
  d[0] = 0x36;
  d[1] = p.classDescriptorType;
  writeLe16(d, 2, p.bcdCcid);
  d[4] = p.maxSlotIndex;
  d[5] = p.voltageSupport;
  writeLe32(d, 6, p.protocols);
  writeLe32(d, 10, p.defaultClockKhz);
  writeLe32(d, 14, p.maxClockKhz);
  d[18] = p.numClocksSupported;
  writeLe32(d, 19, p.dataRate);
  writeLe32(d, 23, p.maxDataRate);
  d[27] = p.numDataRatesSupported;
  writeLe32(d, 28, p.maxIfsd);
  writeLe32(d, 32, p.synchProtocols);
  writeLe32(d, 36, p.mechanical);
  writeLe32(d, 40, p.features);
  writeLe32(d, 44, p.maxMessageLength);
  d[48] = p.classGetResponse;
  d[49] = p.classEnvelope;
  writeLe16(d, 50, p.lcdLayout);
  d[52] = p.pinSupport;
  d[53] = p.maxBusySlots;
  return d;
}

function endpointDescriptor(
  address: number,
  attributes: number,
  packetSize: number,
  interval: number,
): Uint8Array {
  const d = new Uint8Array(7);
  d[0] = 7;
  d[1] = 0x05;
  d[2] = address;
  d[3] = attributes;
  writeLe16(d, 4, packetSize);
  d[6] = interval;
  return d;
}

/**
 * Full configuration descriptor: configuration (9) + interface (9) + CCID class descriptor (54) +
 * endpoints (7 each), with the class descriptor after the endpoints when the profile says so.
 */
export function buildConfigurationDescriptor(p: ReaderProfile): Uint8Array {
  const eps: Uint8Array[] = [
    endpointDescriptor(ENDPOINT.bulkOut, 0x02, p.bulkPacketSize, 0),
    endpointDescriptor(ENDPOINT.bulkIn, 0x02, p.bulkPacketSize, 0),
  ];
  if (p.hasInterruptEndpoint) {
    eps.push(
      endpointDescriptor(ENDPOINT.interruptIn, 0x03, p.interruptPacketSize, p.interruptIntervalMs),
    );
  }
  const iface = new Uint8Array(9);
  iface[0] = 9;
  iface[1] = 0x04;
  iface[2] = 0; // bInterfaceNumber
  iface[3] = 0; // bAlternateSetting
  iface[4] = eps.length;
  iface[5] = p.interfaceClass;
  iface[6] = p.interfaceSubclass;
  iface[7] = p.interfaceProtocol;
  iface[8] = STRING_INDEX.interface;
  const ccid = buildCcidClassDescriptor(p);
  const parts =
    p.classDescriptorPosition === 'before-endpoints'
      ? [iface, ccid, ...eps]
      : [iface, ...eps, ccid];
  const total = 9 + parts.reduce((n, x) => n + x.length, 0);
  const out = new Uint8Array(total);
  out[0] = 9;
  out[1] = 0x02;
  writeLe16(out, 2, total);
  out[4] = 1; // bNumInterfaces
  out[5] = 1; // bConfigurationValue
  out[6] = 0; // iConfiguration
  out[7] = 0x80 | (p.features & 0x00100000 ? 0x20 : 0); // bus powered (+ remote wake-up, CCID §5.1)
  out[8] = 50; // bMaxPower: 100 mA (chosen)
  let at = 9;
  for (const x of parts) {
    out.set(x, at);
    at += x.length;
  }
  return out;
}

/** String descriptor (USB 2.0 §9.6.7): index 0 = LANGID list (0x0409), else UTF-16LE text. */
export function buildStringDescriptor(text: string | null): Uint8Array {
  if (text === null) return Uint8Array.of(4, 0x03, 0x09, 0x04);
  const n = Math.min(text.length, 126);
  const d = new Uint8Array(2 + n * 2);
  d[0] = d.length;
  d[1] = 0x03;
  for (let i = 0; i < n; i++) writeLe16(d, 2 + i * 2, text.charCodeAt(i));
  return d;
}
