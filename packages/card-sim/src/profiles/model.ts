/**
 * What a reader profile is: the CCID descriptor fields and the behaviours the simulator imitates,
 * the dwFeatures bits, and the defaults shared by the built-in profiles (chosen values where the
 * libccid dumps record nothing).
 */

/** CCID dwFeatures bits (CCID Rev 1.1 §5.1, table 5.1-1). */
export const CCID_FEATURE = {
  autoConfigFromAtr: 0x00000002,
  autoActivation: 0x00000004,
  autoVoltage: 0x00000008,
  autoClock: 0x00000010,
  autoBaud: 0x00000020,
  autoParamNegotiation: 0x00000040,
  autoPps: 0x00000080,
  clockStop: 0x00000100,
  nadOtherThanZero: 0x00000200,
  autoIfsd: 0x00000400,
  levelTpdu: 0x00010000,
  levelShortApdu: 0x00020000,
  levelExtendedApdu: 0x00040000,
} as const;

/** Exchange level decoded from dwFeatures & 0x00070000 (CCID §5.1). */
export type ExchangeLevel = 'character' | 'tpdu' | 'short-apdu' | 'extended-apdu';

/** Everything the simulator needs to impersonate one CCID interface of one real reader. */
export interface ReaderProfile {
  /** Key of the profile in `readerProfiles`. */
  readonly id: string;
  /** Human-readable name. */
  readonly name: string;
  /** Dump file in shared/data/ccid-readers the descriptor values come from. */
  readonly source: string;
  readonly vendorId: number;
  readonly productId: number;
  /** bcdDevice as [major, minor, subminor]. */
  readonly deviceVersion: readonly [number, number, number];
  readonly manufacturer: string;
  readonly product: string;
  /** bInterfaceClass: 0x0B CCID or 0xFF vendor class carrying a CCID descriptor. */
  readonly interfaceClass: 0x0b | 0xff;
  readonly interfaceSubclass: number;
  readonly interfaceProtocol: number;
  /** bcdCCID, e.g. 0x0110. */
  readonly bcdCcid: number;
  /** bDescriptorType of the class descriptor (0x21; 0xFF on a few early readers). */
  readonly classDescriptorType: 0x21 | 0xff;
  /** Where the 54-byte class descriptor sits in the configuration descriptor (§2 of ccid.md). */
  readonly classDescriptorPosition: 'before-endpoints' | 'after-endpoints';
  /** bMaxSlotIndex: slots are 0..maxSlotIndex. */
  readonly maxSlotIndex: number;
  /** bVoltageSupport bit0 5 V, bit1 3 V, bit2 1.8 V. */
  readonly voltageSupport: number;
  /** dwProtocols bit0 T=0, bit1 T=1. */
  readonly protocols: number;
  /** dwDefaultClock, kHz. */
  readonly defaultClockKhz: number;
  /** dwMaximumClock, kHz. */
  readonly maxClockKhz: number;
  /** bNumClockSupported as announced. */
  readonly numClocksSupported: number;
  /** GET_CLOCK_FREQUENCIES answer in kHz, or 'stall' when the dump shows the request failing. */
  readonly clockFrequenciesKhz: readonly number[] | 'stall';
  /** dwDataRate, bps. */
  readonly dataRate: number;
  /** dwMaxDataRate, bps. */
  readonly maxDataRate: number;
  /** bNumDataRatesSupported as announced. */
  readonly numDataRatesSupported: number;
  /** GET_DATA_RATES answer in bps, or 'stall'. */
  readonly dataRates: readonly number[] | 'stall';
  /** dwMaxIFSD (raw; 0 and > 254 occur in the wild). */
  readonly maxIfsd: number;
  readonly synchProtocols: number;
  /** dwMechanical (0 = none; Mechanical commands then fail with "not supported"). */
  readonly mechanical: number;
  /** dwFeatures. */
  readonly features: number;
  /** dwMaxCCIDMessageLength, bytes (10-byte header included). */
  readonly maxMessageLength: number;
  /**
   * What the firmware really accepts (default maxMessageLength). SCM readers announce 263 but
   * take 271 (libccid BOGUS_SCM_FIRMWARE_FOR_dwMaxCCIDMessageLength, ccid.md §7).
   */
  readonly firmwareMaxMessageLength?: number;
  readonly classGetResponse: number;
  readonly classEnvelope: number;
  readonly lcdLayout: number;
  readonly pinSupport: number;
  /** bMaxCCIDBusySlots. */
  readonly maxBusySlots: number;
  /** Bulk endpoints wMaxPacketSize, bytes (not in the dumps: chosen unless noted). */
  readonly bulkPacketSize: 8 | 16 | 32 | 64;
  /** Whether the interface has an interrupt-IN endpoint (bNumEndpoints 3 vs 2). */
  readonly hasInterruptEndpoint: boolean;
  /** Interrupt endpoint wMaxPacketSize, bytes. */
  readonly interruptPacketSize: number;
  /** Interrupt endpoint bInterval, ms (full speed). */
  readonly interruptIntervalMs: number;
  /**
   * How GetSlotStatus reports an empty slot: 'failed' = bStatus 0x42 bError 0xFE (ICC_MUTE),
   * 'ok' = bStatus 0x02. Both occur on real readers (libccid accepts both, ccid.md §17.3).
   */
  readonly absentSlotStatus: 'ok' | 'failed';
  /**
   * APDU-level readers with a T=0 card: 'passthrough' returns the card's 61xx / 6Cxx to the host
   * (the Alcor AK9563 in the real capture, ccid.md §16.2); 'automatic' does GET RESPONSE / re-issue
   * itself.
   */
  readonly apduT0Handling: 'passthrough' | 'automatic';
}

/** Decodes the exchange level from dwFeatures (CCID §5.1: at most one of the three level bits). */
export function exchangeLevelOf(features: number): ExchangeLevel | 'invalid' {
  switch (features & 0x00070000) {
    case 0:
      return 'character';
    case CCID_FEATURE.levelTpdu:
      return 'tpdu';
    case CCID_FEATURE.levelShortApdu:
      return 'short-apdu';
    case CCID_FEATURE.levelExtendedApdu:
      return 'extended-apdu';
    default:
      return 'invalid';
  }
}

type ProfileDefaults = Pick<
  ReaderProfile,
  | 'interfaceSubclass'
  | 'interfaceProtocol'
  | 'classDescriptorType'
  | 'classDescriptorPosition'
  | 'synchProtocols'
  | 'mechanical'
  | 'lcdLayout'
  | 'bulkPacketSize'
  | 'hasInterruptEndpoint'
  | 'interruptPacketSize'
  | 'interruptIntervalMs'
  | 'absentSlotStatus'
  | 'apduT0Handling'
>;

const defaults: ProfileDefaults = {
  interfaceSubclass: 0,
  interfaceProtocol: 0,
  classDescriptorType: 0x21,
  classDescriptorPosition: 'before-endpoints',
  synchProtocols: 0,
  mechanical: 0,
  lcdLayout: 0,
  bulkPacketSize: 64, // chosen: full-speed bulk maximum, the most common value (ccid.md §2.2)
  hasInterruptEndpoint: true,
  interruptPacketSize: 8, // chosen: the usual interrupt size (ccid.md §2.2)
  interruptIntervalMs: 16, // chosen
  absentSlotStatus: 'ok',
  apduT0Handling: 'automatic',
};

/** A frozen profile: `p` over the defaults. */
export function profile(
  p: Omit<ReaderProfile, keyof ProfileDefaults> & Partial<ProfileDefaults>,
): ReaderProfile {
  return Object.freeze({ ...defaults, ...p });
}
