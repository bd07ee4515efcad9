/**
 * Parser for libccid `parse` dumps (shared/data/ccid-readers/*.txt, format in that folder's README).
 * Test helper: it yields, per interface block, (a) the raw numeric fields needed to rebuild the
 * 54-byte CCID class descriptor and (b) the values the dump's decoded text lines state, which
 * the driver's view is checked against.
 */
import { readFileSync } from 'node:fs';

export interface DumpInterface {
  file: string;
  index: number;
  vendorId: number;
  productId: number;
  interfaceNumber: number;
  interfaceClass: number;
  interfaceSubClass: number;
  interfaceProtocol: number;
  numEndpoints: number;
  /** Text under bNumEndpoints, e.g. 'bulk-IN, bulk-OUT and Interrupt-IN' (undefined when absent). */
  endpointText: string | undefined;
  /** Raw descriptor fields as numbers (keys = CCID field names). */
  fields: Record<string, number>;
  /** Decoded text lines under each field (3-space indented), by field name. */
  decoded: Record<string, string[]>;
}

const HEX_FIELDS = new Set([
  'bLength',
  'bDescriptorType',
  'bMaxSlotIndex',
  'bVoltageSupport',
  'dwSynchProtocols',
  'dwMechanical',
  'dwFeatures',
  'bClassGetResponse',
  'bClassEnvelope',
  'wLcdLayout',
  'bPINSupport',
]);
const DEC_FIELDS = new Set([
  'bNumClockSupported',
  'bNumDataRatesSupported',
  'dwMaxIFSD',
  'bMaxCCIDBusySlots',
  'dwDataRate',
  'dwMaxDataRate',
  'dwMaxCCIDMessageLength',
]);
export const CCID_FIELD_ORDER = [
  'bLength',
  'bDescriptorType',
  'bcdCCID',
  'bMaxSlotIndex',
  'bVoltageSupport',
  'dwProtocols',
  'dwDefaultClock',
  'dwMaximumClock',
  'bNumClockSupported',
  'dwDataRate',
  'dwMaxDataRate',
  'bNumDataRatesSupported',
  'dwMaxIFSD',
  'dwSynchProtocols',
  'dwMechanical',
  'dwFeatures',
  'dwMaxCCIDMessageLength',
  'bClassGetResponse',
  'bClassEnvelope',
  'wLcdLayout',
  'bPINSupport',
  'bMaxCCIDBusySlots',
] as const;

function num(value: string, what: string): number {
  const v = value.trim();
  const m = /^(-?)(0x[0-9a-fA-F]+|\d+)/.exec(v);
  if (!m) throw new Error(`cannot read number for ${what} from "${value}"`);
  return Number(m[2]);
}

/** "1.10" → 0x0110 (BCD %X.%02X). */
function bcd(value: string): number {
  const m = /^([0-9A-Fa-f]+)\.([0-9A-Fa-f]{2})/.exec(value.trim());
  if (!m) throw new Error(`bad BCD "${value}"`);
  return (parseInt(m[1]!, 16) << 8) | parseInt(m[2]!, 16);
}

/** "4.000 MHz" → 4000 (kHz; the raw value is kHz printed /1000 with 3 decimals). */
function khz(value: string): number {
  const m = /^(\d+)\.(\d{3})\s*MHz/.exec(value.trim());
  if (!m) throw new Error(`bad clock "${value}"`);
  return Number(m[1]) * 1000 + Number(m[2]);
}

/** Interface-level fields of a dump block and where they go. */
const TOP_FIELDS: Partial<
  Record<
    string,
    | 'productId'
    | 'interfaceNumber'
    | 'interfaceClass'
    | 'interfaceSubClass'
    | 'interfaceProtocol'
    | 'numEndpoints'
  >
> = {
  idProduct: 'productId',
  bInterfaceNumber: 'interfaceNumber',
  bInterfaceClass: 'interfaceClass',
  bInterfaceSubClass: 'interfaceSubClass',
  bInterfaceProtocol: 'interfaceProtocol',
  bNumEndpoints: 'numEndpoints',
};

function newInterface(file: string, index: number, vendorId: number): DumpInterface {
  return {
    file,
    index,
    vendorId,
    productId: -1,
    interfaceNumber: -1,
    interfaceClass: -1,
    interfaceSubClass: -1,
    interfaceProtocol: -1,
    numEndpoints: -1,
    endpointText: undefined,
    fields: {},
    decoded: {},
  };
}

/** One "name: value" line of the CCID class descriptor section. */
function setCcidField(cur: DumpInterface, name: string, v: string): void {
  if (name === 'bcdCCID') cur.fields[name] = bcd(v);
  else if (name === 'dwProtocols') {
    const m = /^0x([0-9a-fA-F]{4})\s+0x([0-9a-fA-F]{4})/.exec(v);
    if (!m) throw new Error(`${cur.file}: bad dwProtocols "${v}"`);
    cur.fields[name] = ((parseInt(m[1]!, 16) << 16) | parseInt(m[2]!, 16)) >>> 0;
  } else if (name === 'dwDefaultClock' || name === 'dwMaximumClock') cur.fields[name] = khz(v);
  else if (HEX_FIELDS.has(name) || DEC_FIELDS.has(name))
    cur.fields[name] = num(v, `${cur.file} ${name}`);
}

export function parseDumpFile(path: string, file: string): DumpInterface[] {
  const text = readFileSync(path).toString('latin1').replace(/\r\n?/g, '\n');
  const lines = text.split('\n');
  const out: DumpInterface[] = [];
  let cur: DumpInterface | undefined;
  let inCcid = false;
  let lastField: string | undefined;
  let lastTop: string | undefined;
  for (const raw of lines) {
    const line = raw.replace(/\s+$/, '');
    if (!line.trim()) continue;
    const indent = /^ */.exec(line)![0].length;
    const body = line.trim();
    const kv = /^([A-Za-z][A-Za-z0-9]*):\s*(.*)$/.exec(body);
    if (indent === 1 && kv?.[1] === 'idVendor') {
      cur = newInterface(file, out.length, num(kv[2]!, 'idVendor'));
      out.push(cur);
      inCcid = false;
      lastField = undefined;
      lastTop = 'idVendor';
      continue;
    }
    if (!cur) continue;
    if (indent === 1 && body === 'CCID Class Descriptor') {
      inCcid = true;
      continue;
    }
    if (indent === 1 && kv) {
      lastTop = kv[1];
      const key = TOP_FIELDS[kv[1]!];
      if (key) cur[key] = num(kv[2]!, kv[1]!);
      continue;
    }
    if (indent === 2 && !inCcid && lastTop === 'bNumEndpoints' && !kv) {
      cur.endpointText = body;
      continue;
    }
    if (inCcid && indent === 2 && kv) {
      lastField = kv[1]!;
      cur.decoded[lastField] = [];
      setCcidField(cur, lastField, kv[2]!);
      continue;
    }
    if (inCcid && indent >= 3 && lastField) cur.decoded[lastField]!.push(body);
  }
  for (const i of out) {
    for (const f of CCID_FIELD_ORDER)
      if (i.fields[f] === undefined)
        throw new Error(`${file} block ${i.index}: field ${f} missing`);
  }
  return out;
}

/** Exchange level stated by the decoded dwFeatures lines (e.g. "01.... TPDU level exchange"). */
export function statedExchangeLevel(
  lines: readonly string[],
): 'character' | 'tpdu' | 'short-apdu' | 'extended-apdu' {
  const text = lines.join('\n');
  if (/Short and Extended APDU level exchange/i.test(text)) return 'extended-apdu';
  if (/Short APDU level exchange/i.test(text)) return 'short-apdu';
  if (/TPDU level exchange/i.test(text)) return 'tpdu';
  return 'character';
}
