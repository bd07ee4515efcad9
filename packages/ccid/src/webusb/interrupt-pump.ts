import type { CcidInterfaceInfo, CcidInterruptMessage } from '../core/index.ts';
import { decodeInterrupt } from '../core/index.ts';
import { isDisconnectError } from './platform-errors.ts';

/** Options of {@link runInterruptPump}. */
export interface InterruptPumpOptions {
  device: USBDevice;
  info: CcidInterfaceInfo;
  /** True once the transport is closed or the reader gone: the pump stops. */
  isStopped: () => boolean;
  /** The reader is gone (disconnect error or repeated failures). */
  onGone: (cause: unknown) => void;
  onMessage: (m: CcidInterruptMessage, bytes: Uint8Array) => void;
  /** Counts each interrupt-IN read issued. */
  onRead: () => void;
}

/**
 * Keeps one interrupt-IN read pending while the reader is open (ccid.md §1) and decodes what
 * arrives (NotifySlotChange, HardwareError; CCID rev 1.1 §6.3). Stalls are cleared; three platform
 * failures in a row, or a disconnect, end it with `onGone`.
 */
export async function runInterruptPump(opts: InterruptPumpOptions): Promise<void> {
  const { device, info } = opts;
  const ep = info.interrupt!;
  let failures = 0;
  while (!opts.isStopped()) {
    let r: USBInTransferResult;
    try {
      opts.onRead();
      r = await device.transferIn(ep.endpointNumber, Math.max(ep.packetSize, 8));
    } catch (e) {
      if (opts.isStopped()) return;
      if (isDisconnectError(e) || !device.opened || ++failures > 3) {
        opts.onGone(e);
        return;
      }
      continue;
    }
    failures = 0;
    if (r.status === 'stall') {
      try {
        await device.clearHalt('in', ep.endpointNumber);
      } catch (e) {
        if (isDisconnectError(e)) opts.onGone(e);
      }
      continue;
    }
    const data = r.data;
    if (!data || data.byteLength === 0) continue;
    const bytes = new Uint8Array(
      data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength),
    );
    opts.onMessage(decodeInterrupt(bytes, info.slotCount), bytes);
  }
}
