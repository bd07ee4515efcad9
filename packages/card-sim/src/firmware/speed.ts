/** ISO 7816-3 transmission-speed arithmetic the firmware and the simulated card agree on. */
import { DI_TABLE, FI_TABLE } from '../ccid-constants.ts';

/** Bit rate in bps for a FI/DI byte at `clockKhz` (ISO 7816-3 §7.1), 0 when RFU. */
export function bitRate(fidi: number, clockKhz: number): number {
  const f = FI_TABLE[fidi >> 4] ?? 0;
  const d = DI_TABLE[fidi & 0x0f] ?? 0;
  return f && d ? (clockKhz * 1000 * d) / f : 0;
}

/** The card accepts `fidi` if it is Fd/Dd or TA1 itself or TA1's F with a smaller D (§9.2). */
export function cardAcceptsFidi(ta1: number, fidi: number): boolean {
  if (fidi === 0x11 || fidi === ta1) return true;
  if (fidi >> 4 !== ta1 >> 4) return false;
  const d = DI_TABLE[fidi & 0x0f] ?? 0;
  return d > 0 && d <= (DI_TABLE[ta1 & 0x0f] ?? 0);
}

/** Whether FI and DI of `fidi` are both defined values (not RFU). */
export function isDefinedFidi(fidi: number): boolean {
  return Boolean(FI_TABLE[fidi >> 4]) && Boolean(DI_TABLE[fidi & 0x0f]);
}
