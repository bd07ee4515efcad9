/**
 * Reads QEMU's own `ccid-card-passthru` registers — `vscard_in_pos`, `vscard_in_hdr` and the
 * stored ATR — from its saved device state: HMP `migrate "exec:cat > FILE"` writes the whole VM
 * state, in which the device's section (`ccid-card-passthru`, vmstate version 1) holds the
 * 64 KiB input buffer followed by pos and hdr as big-endian uint32 (`passthru_vmstate` in
 * `qemu/qemu:hw/usb/ccid-card-passthru.c`). This lets tests compare the pure model with real
 * QEMU byte for byte instead of guessing from silence. Afterwards the VM is in `postmigrate`
 * state: its chardev and devices keep working, but QEMU refuses a second migration, so this
 * works once per QEMU process.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { QemuHandle } from '../../src/index.ts';

/** The device's registers as QEMU holds them. */
export interface PassthruRegisters {
  pos: number;
  hdr: number;
  /** The first `hdr`…`pos` bytes are the partial message QEMU keeps. */
  partial: Uint8Array;
  atr: Uint8Array;
}

const SECTION = Buffer.from('ccid-card-passthru');
const IN_SIZE = 65536;

/** Saves the VM state to a temporary file and extracts the passthru device's registers. */
export async function readPassthruRegisters(
  qemu: QemuHandle,
  timeoutMs = 15_000,
): Promise<PassthruRegisters> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'cardlend-vmstate-'));
  const file = path.join(dir, 'state.bin');
  try {
    const started = await qemu.hmp(`migrate "exec:cat > ${file}"`);
    if (/error/i.test(started)) throw new Error(`migrate: ${started.trim()}`);
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const info = await qemu.hmp('info migrate');
      if (/status:\s*completed/i.test(info)) break;
      if (/status:\s*(failed|cancelled)/i.test(info)) throw new Error(`migration: ${info}`);
      if (Date.now() > deadline) throw new Error(`migration did not finish: ${info}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    return parse(readFileSync(file));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function parse(state: Buffer): PassthruRegisters {
  // Section header: type (1), section id (4), idstr length (1), idstr, instance id (4),
  // version id (4); the fields follow.
  const at = state.indexOf(SECTION);
  if (at < 0 || state[at - 1] !== SECTION.length) {
    throw new Error('no ccid-card-passthru section in the saved state');
  }
  const fields = at + SECTION.length + 8;
  const version = state.readUInt32BE(fields - 4);
  if (version !== 1) throw new Error(`unexpected ccid-card-passthru vmstate version ${version}`);
  const pos = state.readUInt32BE(fields + IN_SIZE);
  const hdr = state.readUInt32BE(fields + IN_SIZE + 4);
  const atrAt = fields + IN_SIZE + 8;
  const atrLength = state[atrAt + 40] ?? 0;
  return {
    pos,
    hdr,
    partial: Uint8Array.from(state.subarray(fields + hdr, fields + pos)),
    atr: Uint8Array.from(state.subarray(atrAt, atrAt + atrLength)),
  };
}
