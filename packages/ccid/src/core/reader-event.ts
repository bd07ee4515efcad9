/**
 * What a reader tells its user (the WebUSB adapter's `CcidReader.onEvent`): a card inserted
 * or removed (RDR_to_PC_NotifySlotChange), a hardware error (RDR_to_PC_HardwareError; CCID
 * rev 1.1 §6.3), or the device gone. Platform-neutral, so a consumer such as the bridge can
 * name it without compiling the adapter.
 */
export type ReaderEvent =
  | { type: 'card-inserted'; slot: number }
  | { type: 'card-removed'; slot: number }
  | { type: 'reader-gone' }
  /** `code`: the bHardwareErrorCode byte. */
  | { type: 'hardware-error'; slot: number; code: number };
