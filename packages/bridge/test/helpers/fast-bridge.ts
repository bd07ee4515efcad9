/** Bridge options for tests against a real WebSocket: a short backoff without jitter, short timeouts. */
import { WebSocket } from 'ws';
import type { BridgeOptions } from '../../src/card-bridge.ts';

export const FAST_WS_BRIDGE_OPTIONS = {
  createWebSocket: (url, protocols) => new WebSocket(url, protocols),
  reconnect: { initialDelayMs: 20, maxDelayMs: 40, maxAttempts: 5 },
  random: () => 0,
  ackTimeoutMs: 500,
  stopTimeoutMs: 1000,
} satisfies Partial<BridgeOptions>;
