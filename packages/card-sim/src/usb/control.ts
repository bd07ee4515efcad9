/**
 * Control transfers on endpoint 0: the standard requests a host sends a CCID reader
 * (GET_DESCRIPTOR, GET_STATUS, GET/SET_CONFIGURATION) and the CCID class requests (CCID Rev 1.1
 * §5.3: ABORT, GET_CLOCK_FREQUENCIES, GET_DATA_RATES).
 */
import { toDataView } from '../bytes.ts';
import { buildStringDescriptor, STRING_INDEX } from '../descriptors.ts';
import type { ReaderProfile } from '../profiles.ts';
import type { SimInTransferResult, SimOutTransferResult } from './shape.ts';

/** What control requests read and change on the device. */
export interface ControlTarget {
  readonly profile: ReaderProfile;
  readonly serialNumber: string;
  readonly deviceDescriptor: Uint8Array;
  readonly configDescriptor: Uint8Array;
  isConfigured: boolean;
  /** CCID class request ABORT for (slot, seq); false when the slot does not exist. */
  abort(slot: number, seq: number): boolean;
}

const STALL_IN: SimInTransferResult = { status: 'stall' };
const STALL_OUT: SimOutTransferResult = { status: 'stall', bytesWritten: 0 };

/** A device-to-host control transfer of up to `length` bytes. */
export function controlIn(
  t: ControlTarget,
  setup: USBControlTransferParameters,
  length: number,
): SimInTransferResult {
  const { requestType, recipient, request, index } = setup;
  const reply = (bytes: Uint8Array | undefined): SimInTransferResult =>
    bytes === undefined
      ? STALL_IN
      : { status: 'ok', data: toDataView(bytes.subarray(0, Math.min(length, bytes.length))) };
  if (requestType === 'standard' && request === 0x06 && recipient === 'device') {
    return reply(getDescriptor(t, setup.value));
  }
  if (requestType === 'standard' && request === 0x00) return reply(Uint8Array.of(0, 0)); // GET_STATUS
  if (requestType === 'standard' && request === 0x08 && recipient === 'device') {
    return reply(Uint8Array.of(t.isConfigured ? 1 : 0)); // GET_CONFIGURATION
  }
  if (requestType === 'class' && recipient === 'interface' && (index & 0xff) === 0) {
    return reply(classTable(t.profile, request));
  }
  return STALL_IN;
}

/** GET_DESCRIPTOR: device, configuration 0 and string descriptors; undefined stalls. */
function getDescriptor(t: ControlTarget, value: number): Uint8Array | undefined {
  const type = value >> 8;
  const idx = value & 0xff;
  if (type === 0x01) return t.deviceDescriptor;
  if (type === 0x02 && idx === 0) return t.configDescriptor;
  if (type !== 0x03) return undefined;
  if (idx === 0) return buildStringDescriptor(null);
  const strings: Readonly<Record<number, string>> = {
    [STRING_INDEX.manufacturer]: t.profile.manufacturer,
    [STRING_INDEX.product]: t.profile.product,
    [STRING_INDEX.serialNumber]: t.serialNumber,
  };
  const text = strings[idx];
  return text === undefined ? undefined : buildStringDescriptor(text);
}

/** CCID §5.3.2 / §5.3.3: GET_CLOCK_FREQUENCIES / GET_DATA_RATES, arrays of LE uint32. */
function classTable(profile: ReaderProfile, request: number): Uint8Array | undefined {
  const table =
    request === 0x02
      ? profile.clockFrequenciesKhz
      : request === 0x03
        ? profile.dataRates
        : undefined;
  if (table === undefined || table === 'stall') return undefined;
  const out = new Uint8Array(table.length * 4);
  table.forEach((v, i) => {
    out[i * 4] = v & 0xff;
    out[i * 4 + 1] = (v >>> 8) & 0xff;
    out[i * 4 + 2] = (v >>> 16) & 0xff;
    out[i * 4 + 3] = (v >>> 24) & 0xff;
  });
  return out;
}

/** A host-to-device control transfer carrying `data`. */
export function controlOut(
  t: ControlTarget,
  setup: USBControlTransferParameters,
  data: Uint8Array,
): SimOutTransferResult {
  const { requestType, recipient, request, value, index } = setup;
  const isCcidInterface = requestType === 'class' && recipient === 'interface';
  if (isCcidInterface && (index & 0xff) === 0 && request === 0x01) {
    // CCID §5.3.1 ABORT: wValue = bSeq << 8 | bSlot.
    if (!t.abort(value & 0xff, value >> 8)) return STALL_OUT;
    return { status: 'ok', bytesWritten: data.length };
  }
  if (requestType === 'standard' && request === 0x09 && recipient === 'device') {
    t.isConfigured = value === 1; // SET_CONFIGURATION
    return { status: 'ok', bytesWritten: 0 };
  }
  return STALL_OUT;
}
