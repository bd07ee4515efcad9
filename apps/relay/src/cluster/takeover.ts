/**
 * Taking over a VM whose last session died with its node (its lease lapsed unreleased, e.g.
 * `kill -9`): QEMU does not react to a closed chardev and the guest keeps that session's card
 * (shared/docs vscard-protocol.md §5). So before the new session starts, the relay sends the
 * VM `CardRemove` and `ReaderRemove` on the new connection and awaits QEMU's two acks (bounded):
 * the guest sees the old card removed before the new browser inserts one. Anything else QEMU
 * sends meanwhile is kept for the session, in order.
 */
import { VSC } from '@cardlend/vscard';
import type net from 'node:net';
import { admit, type AdmissionStep } from '../admission/types.ts';
import type { TargetLock } from '../targets.ts';

const HEADER = 12;

function message(type: number): Buffer {
  const b = Buffer.alloc(HEADER);
  b.writeUInt32BE(type, 0);
  b.writeUInt32BE(0, 4); // reader 0
  return b;
}

/** Locks whose session takes over a VM after a lapse (set by the cluster step). */
export type TakeoverMarks = WeakSet<TargetLock>;

/** After connect: the removal of a dead node's card, when the cluster step marked the lock. */
export function takeoverStep(marks: TakeoverMarks, ackTimeoutMs: number): AdmissionStep {
  return async (a) => {
    if (!a.lock || !a.vm || !marks.has(a.lock)) return admit(a);
    marks.delete(a.lock);
    // A dial-in VM is cleaned up when it connects to its (new) node (dial-in.ts).
    if (a.target?.isDialIn) return admit(a);
    const pending = await removeStaleCard(a.vm.socket, a.vm.pending, ackTimeoutMs);
    return admit({ ...a, vm: { socket: a.vm.socket, pending } });
  };
}

/**
 * Writes CardRemove + ReaderRemove and reads until QEMU acked both (two `VSC_Error`) or
 * `timeoutMs` passed. Returns the bytes to hand to the session: what came before (`before`)
 * and every other message read meanwhile.
 */
export function removeStaleCard(
  socket: net.Socket,
  before: Uint8Array | undefined,
  timeoutMs: number,
): Promise<Uint8Array | undefined> {
  return new Promise((resolve) => {
    let buffer = Buffer.alloc(0);
    const kept: Buffer[] = before && before.length > 0 ? [Buffer.from(before)] : [];
    let acks = 0;
    const finish = () => {
      clearTimeout(timer);
      socket.off('data', onData);
      socket.off('close', finish);
      kept.push(buffer);
      const all = Buffer.concat(kept);
      resolve(all.length > 0 ? all : undefined);
    };
    const onData = (chunk: Buffer) => {
      buffer = Buffer.concat([buffer, chunk]);
      while (buffer.length >= HEADER && acks < 2) {
        const length = buffer.readUInt32BE(8);
        if (buffer.length < HEADER + length) break;
        const whole = buffer.subarray(0, HEADER + length);
        buffer = buffer.subarray(HEADER + length);
        if (whole.readUInt32BE(0) === VSC.Error) acks++;
        else kept.push(whole);
      }
      if (acks >= 2) finish();
    };
    const timer = setTimeout(finish, timeoutMs);
    socket.on('data', onData);
    socket.once('close', finish);
    socket.write(Buffer.concat([message(VSC.CardRemove), message(VSC.ReaderRemove)]));
  });
}
