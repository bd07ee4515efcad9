/**
 * Reader profiles: the descriptor values of real readers, taken from the libccid `parse` dumps in
 * shared/data/ccid-readers (LGPL data; only the numeric values are extracted here, the file is named
 * in `source`). The dumps do not record endpoint sizes or bInterval: those are chosen values
 * (full-speed bulk 64 bytes and interrupt 8 bytes unless said otherwise) and are marked as such.
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

function profile(
  p: Omit<ReaderProfile, keyof ProfileDefaults> & Partial<ProfileDefaults>,
): ReaderProfile {
  return Object.freeze({ ...defaults, ...p });
}

/** GemPC Twin data-rate table as returned by GET_DATA_RATES in GemPCTwin.txt (bps). */
const gemPcTwinRates = [
  10753, 14337, 15625, 17204, 20833, 21505, 23438, 25806, 28674, 31250, 32258, 34409, 39063, 41667,
  43011, 46875, 52083, 53763, 57348, 62500, 64516, 68817, 71685, 78125, 83333, 86022, 93750, 104167,
  107527, 114695, 125000, 129032, 143369, 156250, 166667, 172043, 215054, 229391, 250000, 344086,
] as const;

/**
 * The built-in profiles. Keys:
 * - `tpduT0`: Gemplus GemPC Twin, TPDU, no auto-PPS (0x00010230), data-rate table, answers
 *   GET_CLOCK_FREQUENCIES although it announces 0 clocks.
 * - `tpduT1NoAuto`: ACS ACR38U, TPDU without auto-PPS/auto-IFSD (0x00010030), dwMaxIFSD 247,
 *   both class requests stall.
 * - `shortApdu`: Alcor Micro AU9520, short APDU level (0x000204BE).
 * - `extendedApdu`: Cherry SmartTerminal XX44, extended APDU level with a 271-byte message limit
 *   (so extended APDUs are chained) and no 0x02 bit (an APDU reader breaking the spec rule).
 * - `packet16`: Alcor Link AK9563, extended APDU level, bulk packets 16 bytes and interrupt 4 bytes
 *   as measured in the real capture (ccid.md §16.2), returns 61xx/6Cxx of T=0 cards to the host.
 * - `noInterrupt`: Aktiv Rutoken ECP, short APDU, T=1 only, bulk endpoints only (host must poll).
 * - `multiSlot`: ACS ACR33U, 5 slots (bMaxSlotIndex 4), short APDU, bMaxCCIDBusySlots 1.
 * - `vendorClass`: SCM SCR331-DI, interface class 0xFF, TPDU with auto-PPS, 2 slots, 263-byte
 *   messages.
 * - `vendorClassAfterEndpoints`: Reiner SCT cyberJack pinpad(a), class 0xFF, TPDU without auto-PPS
 *   or auto-IFSD, CCID descriptor after the endpoint descriptors, bcdCCID 10.00.
 * - `multiSlotConcurrent`: sysmocom sysmoOCTSIM, 8 slots with bMaxCCIDBusySlots 8, TPDU, T=0 only.
 */
export const readerProfiles = {
  tpduT0: profile({
    id: 'tpduT0',
    name: 'Gemplus GemPC Twin (TPDU)',
    source: 'GemPCTwin.txt',
    vendorId: 0x08e6,
    productId: 0x3437,
    deviceVersion: [1, 0, 0],
    manufacturer: 'Gemplus',
    product: 'USB SmartCard Reader',
    interfaceClass: 0x0b,
    bcdCcid: 0x0100,
    maxSlotIndex: 0,
    voltageSupport: 0x07,
    protocols: 0x03,
    defaultClockKhz: 4000,
    maxClockKhz: 4000,
    numClocksSupported: 0,
    clockFrequenciesKhz: [4000],
    dataRate: 10752,
    maxDataRate: 344086,
    numDataRatesSupported: 0,
    dataRates: gemPcTwinRates,
    maxIfsd: 254,
    features: 0x00010230,
    maxMessageLength: 271,
    classGetResponse: 0x00,
    classEnvelope: 0x00,
    pinSupport: 0,
    maxBusySlots: 1,
    absentSlotStatus: 'failed',
  }),
  tpduT1NoAuto: profile({
    id: 'tpduT1NoAuto',
    name: 'ACS ACR38U (TPDU, host does PPS and IFSD)',
    source: 'ACS_ACR38_plugin.txt',
    vendorId: 0x072f,
    productId: 0x90cc,
    deviceVersion: [1, 0, 0],
    manufacturer: 'ACS',
    product: 'CCID USB Reader',
    interfaceClass: 0x0b,
    bcdCcid: 0x0100,
    maxSlotIndex: 0,
    voltageSupport: 0x07,
    protocols: 0x03,
    defaultClockKhz: 4000,
    maxClockKhz: 4000,
    numClocksSupported: 0,
    clockFrequenciesKhz: 'stall',
    dataRate: 10752,
    maxDataRate: 250000,
    numDataRatesSupported: 0,
    dataRates: 'stall',
    maxIfsd: 247,
    features: 0x00010030,
    maxMessageLength: 271,
    classGetResponse: 0x00,
    classEnvelope: 0x00,
    pinSupport: 0,
    maxBusySlots: 1,
  }),
  shortApdu: profile({
    id: 'shortApdu',
    name: 'Alcor Micro AU9520 (short APDU)',
    source: 'AU9520.txt',
    vendorId: 0x058f,
    productId: 0x9520,
    deviceVersion: [1, 0, 2],
    manufacturer: 'Generic',
    product: 'PCSC Smartcard Reader',
    interfaceClass: 0x0b,
    bcdCcid: 0x0100,
    maxSlotIndex: 0,
    voltageSupport: 0x03,
    protocols: 0x03,
    defaultClockKhz: 3700,
    maxClockKhz: 3700,
    numClocksSupported: 1,
    clockFrequenciesKhz: [3700],
    dataRate: 9946,
    maxDataRate: 318280,
    numDataRatesSupported: 53,
    dataRates: [
      1807, 1989, 2409, 2487, 3315, 3613, 3978, 4818, 4973, 6631, 7227, 7957, 9635, 9946, 13262,
      14453, 15914, 19271, 19892, 21680, 23871, 26523, 28906, 29839, 31828, 36133, 38542, 39785,
      43359, 48177, 49731, 53047, 57813, 59677, 63656, 66308, 72266, 77083, 79570, 86719, 96354,
      99462, 106093, 115625, 119355, 132616, 144531, 154167, 159140, 198925, 212186, 231250, 318280,
    ],
    maxIfsd: 254,
    features: 0x000204be,
    maxMessageLength: 271,
    classGetResponse: 0xff,
    classEnvelope: 0xff,
    pinSupport: 0,
    maxBusySlots: 1,
  }),
  extendedApdu: profile({
    id: 'extendedApdu',
    name: 'Cherry SmartTerminal XX44 (extended APDU, 271-byte messages)',
    source: 'Cherry_SmartTerminal_1144.txt',
    vendorId: 0x046a,
    productId: 0x00a7,
    deviceVersion: [1, 0, 3],
    manufacturer: 'CHERRY',
    product: 'Smart Terminal XX44',
    interfaceClass: 0x0b,
    bcdCcid: 0x0110,
    maxSlotIndex: 0,
    voltageSupport: 0x07,
    protocols: 0x03,
    defaultClockKhz: 4800,
    maxClockKhz: 8000,
    numClocksSupported: 4,
    clockFrequenciesKhz: [4000, 4800, 6000, 8000],
    dataRate: 10752,
    maxDataRate: 412903,
    numDataRatesSupported: 96,
    // The first entries of the 96-entry table in the dump; the simulator returns this prefix,
    // i.e. fewer entries than announced, which real readers also do (ccid.md §9.2).
    dataRates: [
      10752, 21505, 43010, 86021, 172043, 344086, 129032, 215053, 12903, 25806, 51612, 103225,
    ],
    maxIfsd: 254,
    synchProtocols: 0x00000007,
    features: 0x000407b8,
    maxMessageLength: 271,
    classGetResponse: 0xff,
    classEnvelope: 0xff,
    pinSupport: 0x03,
    maxBusySlots: 1,
  }),
  packet16: profile({
    id: 'packet16',
    name: 'Alcor Link AK9563 (extended APDU, 16-byte bulk packets)',
    source: 'Alcor_Link_AK9563.txt',
    vendorId: 0x2ce3,
    productId: 0x9563,
    deviceVersion: [1, 2, 0],
    manufacturer: 'Generic',
    product: 'EMV Smartcard Reader',
    interfaceClass: 0x0b,
    bcdCcid: 0x0110,
    maxSlotIndex: 0,
    voltageSupport: 0x07,
    protocols: 0x03,
    defaultClockKhz: 4000,
    maxClockKhz: 12000,
    numClocksSupported: 3,
    clockFrequenciesKhz: [4000, 4800, 12000],
    dataRate: 10753,
    maxDataRate: 688172,
    numDataRatesSupported: 95,
    dataRates: [1953, 2151, 2604, 2688, 3584, 3906, 4301, 4688, 5208, 5376, 10753, 688172],
    maxIfsd: 254,
    synchProtocols: 0x00000007,
    features: 0x000404be,
    maxMessageLength: 272,
    classGetResponse: 0xff,
    classEnvelope: 0xff,
    pinSupport: 0,
    maxBusySlots: 1,
    bulkPacketSize: 16, // measured: ccid.md §16.2 (real USB capture of this reader)
    interruptPacketSize: 4, // measured: ccid.md §16.2
    apduT0Handling: 'passthrough', // measured: ccid.md §16.2 (61 22 and 6C 26 reached the host)
    absentSlotStatus: 'failed',
  }),
  noInterrupt: profile({
    id: 'noInterrupt',
    name: 'Aktiv Rutoken ECP (no interrupt endpoint)',
    source: 'Aktiv_Rutoken_ECP.txt',
    vendorId: 0x0a89,
    productId: 0x0030,
    deviceVersion: [1, 0, 0],
    manufacturer: 'Aktiv',
    product: 'Rutoken ECP',
    interfaceClass: 0x0b,
    bcdCcid: 0x0100,
    maxSlotIndex: 0,
    voltageSupport: 0x01,
    protocols: 0x02,
    defaultClockKhz: 3580,
    maxClockKhz: 3580,
    numClocksSupported: 0,
    clockFrequenciesKhz: 'stall',
    dataRate: 9600,
    maxDataRate: 9600,
    numDataRatesSupported: 0,
    dataRates: 'stall',
    maxIfsd: 254,
    features: 0x00020840,
    maxMessageLength: 271,
    classGetResponse: 0xff,
    classEnvelope: 0xff,
    pinSupport: 0,
    maxBusySlots: 1,
    hasInterruptEndpoint: false, // bNumEndpoints: 2 in the dump
  }),
  multiSlot: profile({
    id: 'multiSlot',
    name: 'ACS ACR33U (5 slots, short APDU)',
    source: 'acs_acr33u.txt',
    vendorId: 0x072f,
    productId: 0x8300,
    deviceVersion: [50, 0, 0],
    manufacturer: 'ACS',
    product: 'ACR33 ICC Reader',
    interfaceClass: 0x0b,
    bcdCcid: 0x0100,
    maxSlotIndex: 4,
    voltageSupport: 0x01,
    protocols: 0x03,
    defaultClockKhz: 4000,
    maxClockKhz: 4000,
    numClocksSupported: 0,
    clockFrequenciesKhz: 'stall',
    dataRate: 10752,
    maxDataRate: 344100,
    numDataRatesSupported: 0,
    dataRates: 'stall',
    maxIfsd: 254,
    features: 0x000204b0,
    maxMessageLength: 271,
    classGetResponse: 0x00,
    classEnvelope: 0x00,
    pinSupport: 0x03,
    maxBusySlots: 1,
  }),
  vendorClass: profile({
    id: 'vendorClass',
    name: 'SCM SCR331-DI (vendor class 0xFF, 2 slots)',
    source: 'SCR331-DI.txt',
    vendorId: 0x04e6,
    productId: 0x5111,
    deviceVersion: [6, 3, 2],
    manufacturer: 'SCM Microsystems Inc.',
    product: 'SCR331-DI USB Smart Card Reader',
    interfaceClass: 0xff,
    bcdCcid: 0x0100,
    maxSlotIndex: 1,
    voltageSupport: 0x01,
    protocols: 0x03,
    defaultClockKhz: 4000,
    maxClockKhz: 12000,
    numClocksSupported: 0,
    clockFrequenciesKhz: 'stall',
    dataRate: 10753,
    maxDataRate: 344105,
    numDataRatesSupported: 0,
    dataRates: 'stall',
    maxIfsd: 252,
    features: 0x000100ba,
    maxMessageLength: 263,
    firmwareMaxMessageLength: 271, // SCM firmware quirk, see ReaderProfile.firmwareMaxMessageLength
    classGetResponse: 0xff,
    classEnvelope: 0xff,
    pinSupport: 0,
    maxBusySlots: 1,
  }),
  vendorClassAfterEndpoints: profile({
    id: 'vendorClassAfterEndpoints',
    name: 'Reiner SCT cyberJack pinpad(a) (class 0xFF, descriptor after endpoints)',
    source: 'ReinerSCT.txt',
    vendorId: 0x0c4b,
    productId: 0x0300,
    deviceVersion: [1, 0, 0],
    manufacturer: 'Reiner-SCT',
    product: 'cyberJack pinpad(a)',
    interfaceClass: 0xff,
    bcdCcid: 0x1000,
    classDescriptorPosition: 'after-endpoints', // libccid quirk list (ccid.md §2, §15.9)
    maxSlotIndex: 0,
    voltageSupport: 0x07,
    protocols: 0x03,
    defaultClockKhz: 4000,
    maxClockKhz: 8000,
    numClocksSupported: 0,
    clockFrequenciesKhz: 'stall',
    dataRate: 10072,
    maxDataRate: 250000,
    numDataRatesSupported: 0,
    dataRates: 'stall',
    maxIfsd: 254,
    synchProtocols: 0x00000007,
    features: 0x00010030,
    maxMessageLength: 270,
    classGetResponse: 0xff,
    classEnvelope: 0xff,
    pinSupport: 0x03,
    maxBusySlots: 1,
  }),
  multiSlotConcurrent: profile({
    id: 'multiSlotConcurrent',
    name: 'sysmocom sysmoOCTSIM (8 slots, 8 busy slots, TPDU T=0)',
    source: 'sysmocom_sysmoOCTSIM.txt',
    vendorId: 0x1d50,
    productId: 0x6141,
    deviceVersion: [0, 0, 0],
    manufacturer: 'sysmocom - s.f.m.c. GmbH',
    product: 'sysmoOCTSIM 0.2.40-172b',
    interfaceClass: 0x0b,
    bcdCcid: 0x0110,
    maxSlotIndex: 7,
    voltageSupport: 0x07,
    protocols: 0x01,
    defaultClockKhz: 2500,
    maxClockKhz: 20000,
    numClocksSupported: 4,
    clockFrequenciesKhz: 'stall', // the dump shows a timeout; the simulator stalls instead
    dataRate: 6720,
    maxDataRate: 921600,
    numDataRatesSupported: 0,
    dataRates: 'stall',
    maxIfsd: 0,
    features: 0x000100b0,
    maxMessageLength: 272,
    classGetResponse: 0xff,
    classEnvelope: 0xff,
    pinSupport: 0,
    maxBusySlots: 8,
  }),
} as const satisfies Record<string, ReaderProfile>;

/** Keys of the built-in profiles. */
export type ReaderProfileId = keyof typeof readerProfiles;
