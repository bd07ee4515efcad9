/**
 * A host Flush (VSC_Flush, vscard-protocol.md §2.3): VscardClientSession answers it with
 * FlushComplete once outstanding commands are answered, but the relay closes the connection
 * with BAD_FRAME on FlushComplete (not a message QEMU takes). The bridge must drop it and keep
 * lending.
 */
import { decodeMessage, encodeMessage, validateClientFrame } from '@cardlend/vscard';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { BridgeLogEvent, CardBridge } from '../src/card-bridge.ts';
import { memoryBridge } from './helpers/memory-bridge.ts';
import type { MemorySocket } from './helpers/memory-socket.ts';
import type { ScriptedReader } from './helpers/scripted-reader.ts';

const bridges: CardBridge[] = [];
afterEach(async () => {
  for (const b of bridges.splice(0)) await b.stop();
});

async function lentBridge(): Promise<{
  bridge: CardBridge;
  socket: MemorySocket;
  reader: ScriptedReader;
  logs: BridgeLogEvent[];
}> {
  const logs: BridgeLogEvent[] = [];
  const { bridge, socket, reader } = memoryBridge({
    onLog: (e) => logs.push(e),
    stopTimeoutMs: 50,
  });
  bridges.push(bridge);
  await bridge.start();
  await vi.waitFor(() => expect(bridge.state.card?.vmStatus).toBe('accepted'));
  return { bridge, socket, reader, logs };
}

const sentTypes = (socket: MemorySocket): string[] =>
  socket.sent.map((f) => decodeMessage(f, { errorCodeByteOrder: 'le' }).type);

const apdu = (hex: string): Uint8Array =>
  encodeMessage({ type: 'APDU', readerId: 0, apdu: Uint8Array.from(Buffer.from(hex, 'hex')) });

describe('host Flush', () => {
  it('idle: FlushComplete is not sent, the link stays lent, later commands are answered', async () => {
    const { bridge, socket, logs } = await lentBridge();
    const before = socket.sent.length;
    // The bridge handles a frame synchronously: whatever it would send for it is sent by now.
    socket.deliver(encodeMessage({ type: 'Flush', readerId: 0 }));
    expect(sentTypes(socket).slice(before)).toEqual([]);
    // The session did produce it; the bridge held it back because the relay would refuse it.
    expect(logs.some((l) => l.level === 'warn' && l.message.includes('FlushComplete'))).toBe(true);
    expect(socket.closeCode).toBeNull();
    expect(bridge.state.link).toBe('lent');

    socket.deliver(apdu('00CA7F6800'));
    await vi.waitFor(() => expect(socket.sent.length).toBe(before + 1));
    expect(sentTypes(socket).slice(before)).toEqual(['APDU']);
  });

  it('with a command outstanding: its answer is sent, FlushComplete is not', async () => {
    const { bridge, socket, reader } = await lentBridge();
    const before = socket.sent.length;
    reader.isHolding = true;
    socket.deliver(apdu('00CA7F6800'));
    await vi.waitFor(() => expect(reader.heldCount).toBe(1));
    socket.deliver(encodeMessage({ type: 'Flush', readerId: 0 }));
    expect(sentTypes(socket).slice(before)).toEqual([]);
    reader.release();
    // The answer and a FlushComplete would leave together, when the card's answer comes back.
    await vi.waitFor(() => expect(socket.sent.length).toBe(before + 1));
    expect(sentTypes(socket).slice(before)).toEqual(['APDU']);
    for (const f of socket.sent) expect(() => validateClientFrame(f)).not.toThrow();
    expect(bridge.state.link).toBe('lent');
  });
});
