/**
 * What the tests of TLS on the cluster link share: a PKI made in the test (the cluster CA,
 * node certificates good for both ends of the link, another CA's), the PEM files a node reads,
 * a loopback TCP proxy that records every byte between two nodes (what a network between data
 * centres sees), a store for the dialling node whose directory lookups lead through that
 * proxy, a VM stand-in that dials in, and two relay nodes on a real redis-server.
 */
import net from 'node:net';
import { RELAY_SUBPROTOCOL, RELAY_TOKEN_SUBPROTOCOL_PREFIX } from '@cardlend/vscard';
import { findFreePort } from '@cardlend/qemu-testbed';
import { afterAll, afterEach, beforeAll } from 'vitest';
import { mintToken } from '../../src/auth/tokens.ts';
import { RedisClusterStore } from '../../src/cluster/redis-store.ts';
import type { ClusterStore } from '../../src/cluster/store.ts';
import type { LinkTlsConfig, RelayConfig } from '../../src/config/types.ts';
import { createRelayMetrics, type RelayMetrics } from '../../src/ops/metrics.ts';
import type { RelayServer, ServerEvent } from '../../src/server.ts';
import { type Browser, HostConnection } from '../helpers.ts';
import { type RelayFleet, relayFleetPerTest } from '../relay-rig.ts';
import { makeCa, type Pem, type TestCa, tempDir, writeRelayFiles } from '../vm-certs.ts';
import { TestRedis } from './redis-server.ts';

export const LINK_SECRET = new Uint8Array(32).fill(6);

/** The guest's VERIFY of PIN "123456" (padded), and the card's answer with a marker (hex). */
export const VERIFY = '0020008108313233343536FFFF';
export const ANSWER = 'C0FFEE0123456789ABCDEF9000';

/**
 * Which of the session's secrets `wire` holds in clear: the VERIFY, the answer, and `more`
 * (name → text).
 */
export function inClear(wire: Buffer, more: Record<string, string> = {}): string[] {
  const needles: [string, Buffer][] = [
    ['verify', Buffer.from(VERIFY, 'hex')],
    ['answer', Buffer.from(ANSWER, 'hex')],
    ...Object.entries(more).map(([name, text]): [string, Buffer] => [name, Buffer.from(text)]),
  ];
  return needles.flatMap(([name, n]) => (wire.includes(n) ? [name] : []));
}

/** The cluster's CA, a stranger's, and a node certificate of each. */
export interface LinkPki {
  readonly ca: TestCa;
  readonly rogueCa: TestCa;
  readonly nodeA: Pem;
  readonly nodeB: Pem;
  readonly rogueNode: Pem;
}

export async function makeLinkPki(): Promise<LinkPki> {
  const [ca, rogueCa] = await Promise.all([makeCa('cardlend cluster CA'), makeCa('another CA')]);
  const [nodeA, nodeB, rogueNode] = await Promise.all([
    ca.issueNode('relay-a'),
    ca.issueNode('relay-b'),
    rogueCa.issueNode('relay-b'),
  ]);
  return { ca, rogueCa, nodeA, nodeB, rogueNode };
}

/** A node's `cluster.linkTls` files in a fresh directory: its certificate and key, `caCert`. */
export function linkFiles(node: Pem, caCert: string): LinkTlsConfig {
  return writeRelayFiles(tempDir('cardlend-link-tls-'), node, caCert);
}

/** A loopback TCP proxy to `127.0.0.1:toPort` that keeps every byte it passes, both ways. */
export class RecordingProxy {
  readonly #server: net.Server;
  readonly #chunks: Buffer[] = [];
  readonly #sockets = new Set<net.Socket>();

  private constructor(toPort: number) {
    this.#server = net.createServer((inbound) => {
      const outbound = net.connect({ host: '127.0.0.1', port: toPort });
      for (const [from, to] of [
        [inbound, outbound],
        [outbound, inbound],
      ] as const) {
        this.#sockets.add(from);
        from.on('error', () => to.destroy());
        from.on('data', (chunk: Buffer) => this.#chunks.push(Buffer.from(chunk)));
        from.pipe(to);
        from.once('close', () => to.destroy());
      }
    });
  }

  static async start(toPort: number): Promise<RecordingProxy> {
    const proxy = new RecordingProxy(toPort);
    await new Promise<void>((resolve) => proxy.#server.listen(0, '127.0.0.1', resolve));
    return proxy;
  }

  get address(): string {
    return `127.0.0.1:${(this.#server.address() as net.AddressInfo).port}`;
  }

  /** Every byte passed so far, both directions. */
  get bytes(): Buffer {
    return Buffer.concat(this.#chunks);
  }

  close(): Promise<void> {
    for (const s of this.#sockets) s.destroy();
    return new Promise((resolve) => this.#server.close(() => resolve()));
  }
}

/**
 * A store on `redisUrl` whose dial-in and ticket lookups name `via` as the holder's address:
 * the node using it reaches the others through a {@link RecordingProxy}.
 */
async function storeThrough(redisUrl: string, via: string): Promise<ClusterStore> {
  const store = new RedisClusterStore({ url: redisUrl });
  await store.start();
  const through = <T extends { advertise: string }>(r: T | undefined) =>
    r && { ...r, advertise: via };
  const overrides: Partial<ClusterStore> = {
    findDialIn: async (id) => through(await store.findDialIn(id)),
    findTicket: async (hash) => through(await store.findTicket(hash)),
  };
  return new Proxy(store, {
    get(target, p) {
      const own = overrides[p as keyof ClusterStore];
      if (own !== undefined) return own;
      const v: unknown = Reflect.get(target, p, target);
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  });
}

/** A VM stand-in dialling in to `port` (acks like QEMU, records what reaches it). */
function dialInVm(port: number): HostConnection {
  return new HostConnection(net.connect({ host: '127.0.0.1', port }), true);
}

export interface LinkNode {
  readonly relay: RelayServer;
  readonly events: ServerEvent[];
  /** The node's metrics (its `/metrics`). */
  readonly metrics: RelayMetrics;
  /** The link's port (`--advertise`). */
  readonly linkPort: number;
}

export interface LinkNodeSetup {
  readonly redisUrl: string;
  readonly nodeId: string;
  readonly targets: RelayConfig['targets'];
  readonly linkTls?: LinkTlsConfig | undefined;
  readonly store?: ClusterStore | undefined;
  readonly config?: Partial<RelayConfig>;
}

/** A relay node of the fleet with its link on a free loopback port. */
export async function startLinkNode(fleet: RelayFleet, s: LinkNodeSetup): Promise<LinkNode> {
  const linkPort = await findFreePort();
  const metrics = createRelayMetrics({ hasProcessMetrics: false });
  const { relay, events } = await fleet.start(
    0,
    {
      targets: s.targets,
      defaultTarget: Object.keys(s.targets)[0] as string,
      tokenSecrets: [LINK_SECRET],
      cluster: {
        redisUrl: s.redisUrl,
        nodeId: s.nodeId,
        advertise: `127.0.0.1:${linkPort}`,
        leaseMs: 1500,
        ...(s.linkTls ? { linkTls: s.linkTls } : {}),
      },
      ...s.config,
    },
    { metrics, ...(s.store ? { clusterStore: s.store } : {}) },
  );
  return { relay, events, metrics, linkPort };
}

/** A page on `relay` with a fresh token for `targetId`, terminated after the test. */
export function pageWithToken(fleet: RelayFleet, relay: RelayServer, targetId: string): Browser {
  const token = mintToken({ secret: LINK_SECRET, targetId, ttlSeconds: 60, nowMs: Date.now() });
  return fleet.browser(relay, [RELAY_SUBPROTOCOL, RELAY_TOKEN_SUBPROTOCOL_PREFIX + token]);
}

/** The files of A and of a B whose certificate is a stranger's (B trusts the cluster CA). */
export function strangerB(pki: LinkPki): { a: LinkTlsConfig; b: LinkTlsConfig } {
  return { a: linkFiles(pki.nodeA, pki.ca.cert), b: linkFiles(pki.rogueNode, pki.ca.cert) };
}

/**
 * A's log line refusing such a B (Node may no longer know B's address once the handshake
 * failed: `?:?`).
 */
export const STRANGER_REFUSED =
  /link refused: TLS handshake with \S+ failed: its certificate is not one the cluster CA signed \([A-Z_]+\)/;

/** A node's `server-error` lines (link refusals and failures among them) as one text. */
export function logOf(node: LinkNode): string {
  return serverErrors(node.events).join('\n');
}

/** The messages of a node's `server-error` events (link refusals and failures among them). */
function serverErrors(events: readonly ServerEvent[]): string[] {
  return events.flatMap((e) => (e.kind === 'server-error' ? [e.message] : []));
}

/** A's and B's `cluster.linkTls` (undefined: a plain link). */
export interface CrossSetup {
  readonly a: LinkTlsConfig | undefined;
  readonly b: LinkTlsConfig | undefined;
  /** Node B's link timeout; default longer than any test waits (a wait for it fails the test). */
  readonly connectTimeoutMs?: number;
}

/** Node A holding a dialled-in VM, node B reaching A's link through a recording proxy. */
export interface CrossNodes {
  readonly target: string;
  readonly a: LinkNode;
  readonly b: LinkNode;
  readonly vm: HostConnection;
  readonly proxy: RecordingProxy;
}

/**
 * One test file's bed: a real redis-server and a PKI for the file; per test the relay nodes,
 * VM stand-ins and proxies, all ended after the test.
 */
export class LinkBed {
  readonly fleet: RelayFleet;
  #redis: TestRedis | undefined;
  #pki: LinkPki | undefined;
  readonly #vms: HostConnection[] = [];
  readonly #proxies: RecordingProxy[] = [];
  #nextTarget = 1;

  private constructor(fleet: RelayFleet) {
    this.fleet = fleet;
  }

  /** Registers the hooks of a test file and returns its bed. */
  static perTest(): LinkBed {
    beforeAll(async () => {
      [bed.#redis, bed.#pki] = await Promise.all([TestRedis.start(), makeLinkPki()]);
    }, 30_000);
    afterEach(async () => {
      for (const vm of bed.#vms.splice(0)) vm.socket.destroy();
      for (const p of bed.#proxies.splice(0)) await p.close();
    });
    // Registered after: the nodes close before their VMs and proxies.
    const bed = new LinkBed(relayFleetPerTest());
    afterAll(() => bed.#redis?.stop());
    return bed;
  }

  /** The file's PKI (made before its tests). */
  get pki(): LinkPki {
    if (this.#pki === undefined) throw new Error('PKI not made');
    return this.#pki;
  }

  get redisUrl(): string {
    if (this.#redis === undefined) throw new Error('redis-server not started');
    return this.#redis.url;
  }

  /** A recording proxy to a node's link, closed after the test. */
  async proxyTo(node: LinkNode): Promise<RecordingProxy> {
    const proxy = await RecordingProxy.start(node.linkPort);
    this.#proxies.push(proxy);
    return proxy;
  }

  /** A node whose directory lookups lead through `proxy` (its link timeout very long by default). */
  async nodeThrough(
    proxy: RecordingProxy,
    s: Omit<LinkNodeSetup, 'redisUrl' | 'store'>,
  ): Promise<LinkNode> {
    const store = await storeThrough(this.redisUrl, proxy.address);
    const config = { connectTimeoutMs: 60_000, ...s.config };
    return startLinkNode(this.fleet, { ...s, redisUrl: this.redisUrl, store, config });
  }

  /** {@link CrossNodes} with a fresh target id; resolves once A announced the VM. */
  async crossNodes(setup: CrossSetup): Promise<CrossNodes> {
    const target = `vm-link-${this.#nextTarget++}`;
    const dialInPort = await findFreePort();
    const a = await startLinkNode(this.fleet, {
      redisUrl: this.redisUrl,
      nodeId: 'a',
      targets: { [target]: { host: '127.0.0.1', port: dialInPort, isDialIn: true } },
      linkTls: setup.a,
    });
    const proxy = await this.proxyTo(a);
    const b = await this.nodeThrough(proxy, {
      nodeId: 'b',
      targets: { [target]: { host: '127.0.0.1', port: 0, isDialIn: true } },
      linkTls: setup.b,
      ...(setup.connectTimeoutMs ? { config: { connectTimeoutMs: setup.connectTimeoutMs } } : {}),
    });
    const vm = dialInVm(dialInPort);
    this.#vms.push(vm);
    for (let i = 0; (await a.relay.cluster?.store.findDialIn(target))?.nodeId !== 'a'; i++) {
      if (i > 100) throw new Error('A did not announce the VM');
      await new Promise((r) => setTimeout(r, 50));
    }
    return { target, a, b, vm, proxy };
  }
}
