/**
 * The VSCard messages the relay itself sends to QEMU, encoded once: the answer to a guest
 * command nobody will answer, and the card and reader removal (vscard-protocol.md §5, §6
 * rules 7–8). Used by a session's cleanup (session/vm-link.ts) and by a parked dial-in VM (dial-in.ts).
 */
import { encodeMessage, VSC_ERROR_CODE } from '@cardlend/vscard';

/** `VSC_Error(GENERAL_ERROR)` as a guest command's answer. §2.5: QEMU reads the client's code in host order (little-endian on x86) and only logs it. */
export const GUEST_COMMAND_ERROR: Uint8Array = encodeMessage(
  { type: 'Error', readerId: 0, code: VSC_ERROR_CODE.VSC_GENERAL_ERROR },
  { errorCodeByteOrder: 'le' },
);

/** `CardRemove`: the guest's card goes. */
export const CARD_REMOVE: Uint8Array = encodeMessage({ type: 'CardRemove', readerId: 0 });

/** `ReaderRemove`: the guest's reader goes. */
export const READER_REMOVE: Uint8Array = encodeMessage({ type: 'ReaderRemove', readerId: 0 });
