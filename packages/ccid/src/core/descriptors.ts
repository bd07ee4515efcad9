import { readU16, readU32, writeU16, writeU32 } from './bytes.ts';
import {
  CCID_CLASS_DESCRIPTOR_BYTES,
  CcidFeature,
  USB_CLASS_SMART_CARD,
  USB_CLASS_VENDOR,
} from './constants.ts';
import { CcidError } from './errors.ts';

/** The 54-byte CCID class descriptor, CCID rev 1.1 §5.1 table 5.1-1 (field names as in the spec). */
export interface CcidClassDescriptor {
  bLength: number;
  /** 0x21, or 0xFF on a few early readers. */
  bDescriptorType: number;
  /** BCD release, e.g. 0x0110. Odd values exist; never rejected. */
  bcdCCID: number;
  /** Highest slot number: slots are 0..bMaxSlotIndex. */
  bMaxSlotIndex: number;
  /** bit0 5.0 V, bit1 3.0 V, bit2 1.8 V. */
  bVoltageSupport: number;
  /** bit0 T=0, bit1 T=1 (upper 16 bits RFU, may hold junk). */
  dwProtocols: number;
  /** Default card clock, kHz. */
  dwDefaultClock: number;
  /** Maximum card clock, kHz. */
  dwMaximumClock: number;
  bNumClockSupported: number;
  /** Default ICC I/O rate, bps. */
  dwDataRate: number;
  /** Maximum ICC I/O rate, bps. */
  dwMaxDataRate: number;
  bNumDataRatesSupported: number;
  /** Largest T=1 IFSD the reader accepts, bytes (raw; 0 and > 254 occur). */
  dwMaxIFSD: number;
  dwSynchProtocols: number;
  dwMechanical: number;
  /** See {@link CcidFeature}. */
  dwFeatures: number;
  /** Largest whole CCID message (10-byte header + data), bytes, both directions. */
  dwMaxCCIDMessageLength: number;
  bClassGetResponse: number;
  bClassEnvelope: number;
  wLcdLayout: number;
  bPINSupport: number;
  bMaxCCIDBusySlots: number;
}

/**
 * Parses the 54-byte CCID class descriptor (CCID rev 1.1 §5.1). Accepts bDescriptorType 0x21 and
 * 0xFF (early proprietary readers). Throws CcidError CCID_BAD_DESCRIPTOR if shorter than 54 bytes or
 * bLength is not 0x36.
 */
export function parseCcidClassDescriptor(bytes: Uint8Array): CcidClassDescriptor {
  if (bytes.length < CCID_CLASS_DESCRIPTOR_BYTES || bytes[0] !== CCID_CLASS_DESCRIPTOR_BYTES) {
    throw new CcidError(
      'CCID_BAD_DESCRIPTOR',
      `CCID class descriptor must be 54 bytes (got bLength ${bytes[0] ?? 'none'}, ${bytes.length} bytes)`,
    );
  }
  const t = bytes[1] ?? 0;
  if (t !== 0x21 && t !== 0xff)
    throw new CcidError(
      'CCID_BAD_DESCRIPTOR',
      `CCID class descriptor type 0x${t.toString(16)} (want 0x21 or 0xFF)`,
    );
  return {
    bLength: bytes[0],
    bDescriptorType: t,
    bcdCCID: readU16(bytes, 2),
    bMaxSlotIndex: bytes[4] ?? 0,
    bVoltageSupport: bytes[5] ?? 0,
    dwProtocols: readU32(bytes, 6),
    dwDefaultClock: readU32(bytes, 10),
    dwMaximumClock: readU32(bytes, 14),
    bNumClockSupported: bytes[18] ?? 0,
    dwDataRate: readU32(bytes, 19),
    dwMaxDataRate: readU32(bytes, 23),
    bNumDataRatesSupported: bytes[27] ?? 0,
    dwMaxIFSD: readU32(bytes, 28),
    dwSynchProtocols: readU32(bytes, 32),
    dwMechanical: readU32(bytes, 36),
    dwFeatures: readU32(bytes, 40),
    dwMaxCCIDMessageLength: readU32(bytes, 44),
    bClassGetResponse: bytes[48] ?? 0,
    bClassEnvelope: bytes[49] ?? 0,
    wLcdLayout: readU16(bytes, 50),
    bPINSupport: bytes[52] ?? 0,
    bMaxCCIDBusySlots: bytes[53] ?? 0,
  };
}

/** Encodes a CCID class descriptor back to its 54 bytes (inverse of {@link parseCcidClassDescriptor}). */
export function encodeCcidClassDescriptor(
  d: Omit<CcidClassDescriptor, 'bLength' | 'bDescriptorType'> & { bDescriptorType?: number },
): Uint8Array {
  const b = new Uint8Array(CCID_CLASS_DESCRIPTOR_BYTES);
  b[0] = CCID_CLASS_DESCRIPTOR_BYTES;
  b[1] = d.bDescriptorType ?? 0x21;
  writeU16(b, 2, d.bcdCCID);
  b[4] = d.bMaxSlotIndex;
  b[5] = d.bVoltageSupport;
  writeU32(b, 6, d.dwProtocols);
  writeU32(b, 10, d.dwDefaultClock);
  writeU32(b, 14, d.dwMaximumClock);
  b[18] = d.bNumClockSupported;
  writeU32(b, 19, d.dwDataRate);
  writeU32(b, 23, d.dwMaxDataRate);
  b[27] = d.bNumDataRatesSupported;
  writeU32(b, 28, d.dwMaxIFSD);
  writeU32(b, 32, d.dwSynchProtocols);
  writeU32(b, 36, d.dwMechanical);
  writeU32(b, 40, d.dwFeatures);
  writeU32(b, 44, d.dwMaxCCIDMessageLength);
  b[48] = d.bClassGetResponse;
  b[49] = d.bClassEnvelope;
  writeU16(b, 50, d.wLcdLayout);
  b[52] = d.bPINSupport;
  b[53] = d.bMaxCCIDBusySlots;
  return b;
}

/** One endpoint descriptor (USB 2.0 §9.6.6). */
export interface UsbEndpointDescriptor {
  /** Endpoint number 1..15 (WebUSB's `endpointNumber`). */
  endpointNumber: number;
  direction: 'in' | 'out';
  type: 'control' | 'isochronous' | 'bulk' | 'interrupt';
  /** wMaxPacketSize bits 0-10, bytes. */
  packetSize: number;
}

/** One interface (alternate setting) of a configuration descriptor, with its CCID class descriptor if any. */
export interface UsbInterfaceDescriptor {
  interfaceNumber: number;
  alternateSetting: number;
  interfaceClass: number;
  interfaceSubClass: number;
  interfaceProtocol: number;
  endpoints: UsbEndpointDescriptor[];
  /** Present when a 54-byte descriptor of type 0x21/0xFF belongs to this interface (before or after its endpoints). */
  ccid: CcidClassDescriptor | undefined;
}

/** Parsed configuration descriptor (USB 2.0 §9.6.3) with all its interfaces. */
export interface UsbConfigurationDescriptor {
  totalLength: number;
  configurationValue: number;
  interfaces: UsbInterfaceDescriptor[];
}

/**
 * Walks a full configuration descriptor (`wTotalLength` bytes, USB 2.0 §9.6.3) and attaches every
 * 54-byte CCID class descriptor to the class 0x0B / 0xFF interface it belongs to, whether it comes
 * right after the interface descriptor or after the endpoint descriptors (O2Micro OZ776, Reiner SCT:
 * ccid.md §1). A type 0x21 descriptor of another length (HID) is ignored. Throws CcidError
 * CCID_BAD_DESCRIPTOR when the chain is truncated or a descriptor has bLength < 2.
 */
export function parseConfigurationDescriptor(bytes: Uint8Array): UsbConfigurationDescriptor {
  if (bytes.length < 9 || bytes[1] !== 0x02)
    throw new CcidError('CCID_BAD_DESCRIPTOR', 'not a configuration descriptor');
  const totalLength = readU16(bytes, 2);
  const end = Math.min(totalLength, bytes.length);
  const interfaces: UsbInterfaceDescriptor[] = [];
  let current: UsbInterfaceDescriptor | undefined;
  let off = 0;
  while (off < end) {
    const len = bytes[off] ?? 0;
    const type = bytes[off + 1] ?? 0;
    if (len < 2 || off + len > end)
      throw new CcidError(
        'CCID_BAD_DESCRIPTOR',
        `descriptor at offset ${off} has bad bLength ${len}`,
      );
    if (type === 0x04 && len >= 9) {
      current = {
        interfaceNumber: bytes[off + 2] ?? 0,
        alternateSetting: bytes[off + 3] ?? 0,
        interfaceClass: bytes[off + 5] ?? 0,
        interfaceSubClass: bytes[off + 6] ?? 0,
        interfaceProtocol: bytes[off + 7] ?? 0,
        endpoints: [],
        ccid: undefined,
      };
      interfaces.push(current);
    } else if (type === 0x05 && len >= 7 && current) {
      const addr = bytes[off + 2] ?? 0;
      const attr = (bytes[off + 3] ?? 0) & 0x03;
      current.endpoints.push({
        endpointNumber: addr & 0x0f,
        direction: addr & 0x80 ? 'in' : 'out',
        type: (['control', 'isochronous', 'bulk', 'interrupt'] as const)[attr] ?? 'control',
        packetSize: readU16(bytes, off + 4) & 0x7ff,
      });
    } else if (
      (type === 0x21 || type === 0xff) &&
      len === 54 &&
      current &&
      current.ccid === undefined &&
      (current.interfaceClass === USB_CLASS_SMART_CARD ||
        current.interfaceClass === USB_CLASS_VENDOR)
    ) {
      current.ccid = parseCcidClassDescriptor(bytes.subarray(off, off + len));
    }
    off += len;
  }
  if (end < totalLength)
    throw new CcidError(
      'CCID_BAD_DESCRIPTOR',
      `configuration descriptor truncated: ${bytes.length} of ${totalLength} bytes`,
    );
  return { totalLength, configurationValue: bytes[5] ?? 0, interfaces };
}

/** Exchange level from dwFeatures (CCID rev 1.1 §5.1, ccid.md §3). */
export type ExchangeLevel = 'character' | 'tpdu' | 'short-apdu' | 'extended-apdu';

/**
 * Exchange level from `dwFeatures & 0x00070000`. The spec allows one bit; if a reader sets several,
 * the highest level wins (an APDU-level reader does its own TPDU work).
 */
export function exchangeLevelOf(dwFeatures: number): ExchangeLevel {
  if (dwFeatures & CcidFeature.LevelExtendedApdu) return 'extended-apdu';
  if (dwFeatures & CcidFeature.LevelShortApdu) return 'short-apdu';
  if (dwFeatures & CcidFeature.LevelTpdu) return 'tpdu';
  return 'character';
}

/** Largest IFSD to announce: dwMaxIFSD clamped to 1..254; 0 means 254 (ccid.md §2.3, §17.7). */
export function effectiveIfsd(dwMaxIFSD: number): number {
  return dwMaxIFSD === 0 || dwMaxIFSD > 254 ? 254 : dwMaxIFSD;
}

/**
 * dwMaxCCIDMessageLength announced by SCM Microsystems firmware (vendor 0x04E6, e.g. SCR331-DI)
 * that really takes a full short APDU. libccid (`src/commands.c`,
 * `BOGUS_SCM_FIRMWARE_FOR_dwMaxCCIDMessageLength` in `CmdXfrBlockTPDU_T0()`; ccid.md §7) keys the
 * quirk on this value alone, without checking the vendor, and we do the same.
 */
export const SCM_BOGUS_MAX_MESSAGE_LENGTH = 263;

/**
 * Message length those readers accept, bytes: 10-byte header + 261 (a case 4 short APDU,
 * 5 + 255 + Le, or a maximal T=0 TPDU of 5 + 255), ccid.md §2.2.
 */
export const SCM_REAL_MAX_MESSAGE_LENGTH = 271;

/** Kind of XfrBlock payload, for {@link maxXfrBlockDataBytes}. */
export type XfrPayloadKind = 't0-tpdu-or-short-apdu' | 'other';

/**
 * Largest abData the driver puts in one XfrBlock, bytes: `dwMaxCCIDMessageLength - 10`
 * (CCID rev 1.1 §5.1), except the libccid SCM quirk: a reader announcing exactly 263 is given up
 * to 271 - 10 = 261 bytes for T=0 TPDUs and short-APDU-level commands — the only paths where
 * libccid applies it (`CmdXfrBlockTPDU_T0()`, used for TPDU T=0 and short-APDU readers). T=1
 * blocks, extended-APDU chunks, PPS and escape data keep the announced limit (`'other'`).
 */
export function maxXfrBlockDataBytes(dwMaxCCIDMessageLength: number, kind: XfrPayloadKind): number {
  const announced = dwMaxCCIDMessageLength - 10;
  if (kind === 't0-tpdu-or-short-apdu' && dwMaxCCIDMessageLength === SCM_BOGUS_MAX_MESSAGE_LENGTH)
    return SCM_REAL_MAX_MESSAGE_LENGTH - 10;
  return announced;
}

/** The driver's view of one CCID interface. */
export interface CcidInterfaceInfo {
  interfaceNumber: number;
  alternateSetting: number;
  interfaceClass: 0x0b | 0xff;
  interfaceSubClass: number;
  interfaceProtocol: number;
  /** ICCD over control transfers (bInterfaceProtocol 1 or 2 on class 0x0B): not driven by this package. */
  isIccdControl: boolean;
  exchangeLevel: ExchangeLevel;
  protocols: { t0: boolean; t1: boolean };
  /** dwFeatures as announced. */
  features: number;
  /** dwMaxCCIDMessageLength, bytes (header included). */
  maxMessageLength: number;
  /** dwMaxIFSD as announced (raw). */
  maxIfsd: number;
  /** IFSD the driver announces in S(IFS request): {@link effectiveIfsd}. */
  ifsd: number;
  /** bMaxSlotIndex + 1. */
  slotCount: number;
  /** bMaxCCIDBusySlots (at least 1). */
  maxBusySlots: number;
  hasInterruptEndpoint: boolean;
  bulkIn: UsbEndpointDescriptor | undefined;
  bulkOut: UsbEndpointDescriptor | undefined;
  interrupt: UsbEndpointDescriptor | undefined;
  descriptor: CcidClassDescriptor;
}

/**
 * The driver's view of an interface, or undefined when it is not CCID: class 0x0B (a CCID
 * descriptor is required to drive it), or class 0xFF carrying a 54-byte CCID descriptor
 * (libccid `get_ccid_usb_interface()`, ccid.md §2.1).
 */
export function describeCcidInterface(
  iface: UsbInterfaceDescriptor,
): CcidInterfaceInfo | undefined {
  const d = iface.ccid;
  if (!d) return undefined;
  const cls = iface.interfaceClass;
  if (cls !== USB_CLASS_SMART_CARD && cls !== USB_CLASS_VENDOR) return undefined;
  const bulkIn = iface.endpoints.find((e) => e.type === 'bulk' && e.direction === 'in');
  const bulkOut = iface.endpoints.find((e) => e.type === 'bulk' && e.direction === 'out');
  const interrupt = iface.endpoints.find((e) => e.type === 'interrupt' && e.direction === 'in');
  return {
    interfaceNumber: iface.interfaceNumber,
    alternateSetting: iface.alternateSetting,
    interfaceClass: cls,
    interfaceSubClass: iface.interfaceSubClass,
    interfaceProtocol: iface.interfaceProtocol,
    isIccdControl:
      cls === USB_CLASS_SMART_CARD &&
      (iface.interfaceProtocol === 1 || iface.interfaceProtocol === 2),
    exchangeLevel: exchangeLevelOf(d.dwFeatures),
    protocols: { t0: (d.dwProtocols & 1) !== 0, t1: (d.dwProtocols & 2) !== 0 },
    features: d.dwFeatures,
    maxMessageLength: d.dwMaxCCIDMessageLength,
    maxIfsd: d.dwMaxIFSD,
    ifsd: effectiveIfsd(d.dwMaxIFSD),
    slotCount: d.bMaxSlotIndex + 1,
    maxBusySlots: Math.max(1, d.bMaxCCIDBusySlots),
    hasInterruptEndpoint: interrupt !== undefined,
    bulkIn,
    bulkOut,
    interrupt,
    descriptor: d,
  };
}
