/** CCID message types and error codes with the spec's names (CCID Rev 1.1 §6.1, §6.2, §6.2.6). */

/** Bulk-OUT command message types (CCID §6.1). */
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

/** Bulk-IN response message types (CCID §6.2). */
export const RDR_to_PC = {
  DataBlock: 0x80,
  SlotStatus: 0x81,
  Parameters: 0x82,
  Escape: 0x83,
  DataRateAndClockFrequency: 0x84,
} as const;

/** Interrupt-IN message types (CCID §6.3). */
export const RDR_to_PC_Interrupt = { NotifySlotChange: 0x50, HardwareError: 0x51 } as const;

/** Slot error codes in bError (CCID §6.2.6). */
export const CCID_ERROR = {
  CMD_NOT_SUPPORTED: 0x00,
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
  /** Offsets of the offending field (CCID §6.2.6: "index of the bad parameter"). */
  BAD_LENGTH: 0x01,
  BAD_SLOT: 0x05,
  BAD_POWERSELECT: 0x07,
  BAD_PROTOCOLNUM: 0x07,
  BAD_LEVELPARAMETER: 0x08,
  BAD_ABDATA: 0x0a,
} as const;

/** Response message type for each command type (CCID §6.1 table). Unknown → SlotStatus. */
export function responseTypeFor(commandType: number): number {
  switch (commandType) {
    case PC_to_RDR.IccPowerOn:
    case PC_to_RDR.XfrBlock:
    case PC_to_RDR.Secure:
      return RDR_to_PC.DataBlock;
    case PC_to_RDR.GetParameters:
    case PC_to_RDR.ResetParameters:
    case PC_to_RDR.SetParameters:
      return RDR_to_PC.Parameters;
    case PC_to_RDR.Escape:
      return RDR_to_PC.Escape;
    case PC_to_RDR.SetDataRateAndClockFrequency:
      return RDR_to_PC.DataRateAndClockFrequency;
    default:
      return RDR_to_PC.SlotStatus;
  }
}

/** ISO 7816-3 Table 7: Fi by FI (0 = RFU). */
export const FI_TABLE = [
  372, 372, 558, 744, 1116, 1488, 1860, 0, 0, 512, 768, 1024, 1536, 2048, 0, 0,
] as const;
/** ISO 7816-3 Table 8: Di by DI (0 = RFU). */
export const DI_TABLE = [0, 1, 2, 4, 8, 16, 32, 64, 12, 20, 0, 0, 0, 0, 0, 0] as const;
