/** A CardBridge on an in-memory socket and a scripted reader holding a T=0 card. */
import { CardBridge } from '../../src/card-bridge.ts';
import type { BridgeOptions } from '../../src/card-bridge.ts';
import { CAC_T0_ATR, makeCard } from './cards.ts';
import { MemorySocket, opensSoon } from './memory-socket.ts';
import { ScriptedReader } from './scripted-reader.ts';

export function memoryBridge(extra: Partial<BridgeOptions> = {}): {
  bridge: CardBridge;
  socket: MemorySocket;
  reader: ScriptedReader;
} {
  const reader = new ScriptedReader();
  reader.card = makeCard({ atr: CAC_T0_ATR, protocol: 0 });
  const socket = new MemorySocket();
  const bridge = new CardBridge({
    reader,
    relayUrl: 'ws://relay.test',
    createWebSocket: opensSoon(socket),
    ...extra,
  });
  return { bridge, socket, reader };
}
