/**
 * The real relay in this process on 127.0.0.1 for one VSCard target `vm`, and the page's
 * CardBridge lending a reader to it over `ws` (no compression, as the browser's socket).
 */
import { WebSocket } from 'ws';
import { CardBridge } from '@cardlend/bridge';
import type { BridgeReader, BridgeWebSocket } from '@cardlend/bridge';
import { defaultConfig, startRelayServer } from '@cardlend/relay';
import type { RelayServer } from '@cardlend/relay';

/** A relay for target `vm` at `vmPort`, serving `staticDir`; on `port` (0: any). */
export function startTestRelay(opts: {
  vmPort: number;
  staticDir: string;
  port?: number;
  tokenSecrets?: Uint8Array[];
}): Promise<RelayServer> {
  return startRelayServer({
    config: {
      ...defaultConfig(),
      listen: { host: '127.0.0.1', port: opts.port ?? 0 },
      targets: { vm: { host: '127.0.0.1', port: opts.vmPort } },
      defaultTarget: 'vm',
      ...(opts.tokenSecrets === undefined ? {} : { tokenSecrets: opts.tokenSecrets }),
      staticDir: opts.staticDir,
    },
  });
}

/** A bridge (not started) that lends `reader` through `relay`'s /vscard. */
export function bridgeToRelay(reader: BridgeReader, relay: RelayServer): CardBridge {
  return new CardBridge({
    reader,
    relayUrl: `ws://127.0.0.1:${relay.address.port}/vscard`,
    createWebSocket: (url, protocols) =>
      new WebSocket(url, protocols, { perMessageDeflate: false }) as unknown as BridgeWebSocket,
  });
}
