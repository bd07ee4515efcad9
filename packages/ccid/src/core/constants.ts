/** Bulk-OUT message types, CCID rev 1.1 §6.1 (names as in the spec). */
export const PC_to_RDR = {
  IccPowerOn: 0x62,
  IccPowerOff: 0x63,
  GetSlotStatus: 0x65,
  XfrBlock: 0x6f,
  GetParameters: 0x6c,
  ResetParameters: 0x6d,
  SetParameters: 0x61,
  Escape: 0x6b,
  IccClock: 0x6e,
  T0APDU: 0x6a,
  Secure: 0x69,
  Mechanical: 0x71,
  Abort: 0x72,
  SetDataRateAndClockFrequency: 0x73,
} as const;
export type PcToRdrType = (typeof PC_to_RDR)[keyof typeof PC_to_RDR];

/** Bulk-IN message types, CCID rev 1.1 §6.2. */
export const RDR_to_PC = {
  DataBlock: 0x80,
  SlotStatus: 0x81,
  Parameters: 0x82,
  Escape: 0x83,
  DataRateAndClockFrequency: 0x84,
} as const;
export type RdrToPcType = (typeof RDR_to_PC)[keyof typeof RDR_to_PC];

/** Interrupt-IN message types, CCID rev 1.1 §6.3. */
export const RDR_to_PC_Interrupt = { NotifySlotChange: 0x50, HardwareError: 0x51 } as const;

/** Class-specific control requests, CCID rev 1.1 §5.3. */
export const CcidRequest = {
  ABORT: 0x01,
  GET_CLOCK_FREQUENCIES: 0x02,
  GET_DATA_RATES: 0x03,
} as const;

/** dwFeatures bits, CCID rev 1.1 §5.1 table 5.1-1 (see ccid.md §3). */
export const CcidFeature = {
  AutoConfigFromAtr: 0x00000002,
  AutoActivation: 0x00000004,
  AutoVoltage: 0x00000008,
  AutoClock: 0x00000010,
  AutoBaud: 0x00000020,
  AutoParameterNegotiation: 0x00000040,
  AutoPps: 0x00000080,
  ClockStop: 0x00000100,
  NadNonZero: 0x00000200,
  AutoIfsd: 0x00000400,
  IccdToken: 0x00000800,
  LevelTpdu: 0x00010000,
  LevelShortApdu: 0x00020000,
  LevelExtendedApdu: 0x00040000,
  LevelMask: 0x00070000,
  UsbWakeUp: 0x00100000,
} as const;

/** bError values when bmCommandStatus = 1, CCID rev 1.1 §6.2.6 table 6.2-2. */
export const CcidBError = {
  CMD_ABORTED: 0xff,
  ICC_MUTE: 0xfe,
  XFR_PARITY_ERROR: 0xfd,
  XFR_OVERRUN: 0xfc,
  HW_ERROR: 0xfb,
  BAD_ATR_TS: 0xf8,
  BAD_ATR_TCK: 0xf7,
  ICC_PROTOCOL_NOT_SUPPORTED: 0xf6,
  ICC_CLASS_NOT_SUPPORTED: 0xf5,
  PROCEDURE_BYTE_CONFLICT: 0xf4,
  DEACTIVATED_PROTOCOL: 0xf3,
  BUSY_WITH_AUTO_SEQUENCE: 0xf2,
  PIN_TIMEOUT: 0xf0,
  PIN_CANCELLED: 0xef,
  CMD_SLOT_BUSY: 0xe0,
  CMD_NOT_SUPPORTED: 0x00,
} as const;

/** bmICCStatus (bits 0-1 of bStatus), CCID rev 1.1 §6.2.6. */
export const IccStatus = { Active: 0, Inactive: 1, Absent: 2 } as const;
/** bmCommandStatus (bits 6-7 of bStatus), CCID rev 1.1 §6.2.6. */
export const CommandStatus = { Ok: 0, Failed: 1, TimeExtension: 2 } as const;

/** Size of the common CCID message header, CCID rev 1.1 §6.1. */
export const CCID_HEADER_BYTES = 10;
/** Size of the CCID class descriptor, CCID rev 1.1 §5.1. */
export const CCID_CLASS_DESCRIPTOR_BYTES = 54;
/** USB interface class of smart card readers. */
export const USB_CLASS_SMART_CARD = 0x0b;
/** USB vendor-specific interface class (a few CCID readers use it). */
export const USB_CLASS_VENDOR = 0xff;
