/**
 * VM fleets without config edits (issue 15): a token may name a VM endpoint instead of a
 * configured target, as the target id `ep-<address>-<port>` (an IPv6 address with `_` for `:`,
 * e.g. `ep-10.0.7.21-35963`, `ep-fd00__15-35963`), so the token format is unchanged and the
 * signature covers the endpoint. The relay serves such an endpoint only inside the config's
 * `"vmEndpoints": { "ranges": [CIDR or address…], "ports": [port or "from-to"…] }` allowlist:
 * an IP address literal (names are not resolved: a name's address could change under the
 * check) inside a range, and a listed port. Anything else is a target the relay does not serve.
 * Pure.
 */
import net from 'node:net';
import type { EndpointAllowlist, TargetConfig } from '../config/types.ts';
import { checkKnownKeys, invalid } from '../config/values.ts';

const ENDPOINT_ID = /^ep-([0-9A-Fa-f._]+)-(\d{1,5})$/;

/** The target id a token uses for `host:port` (an IP literal). */
export function endpointTargetId(host: string, port: number): string {
  return `ep-${host.replace(/:/g, '_')}-${port}`;
}

/** The endpoint an `ep-…` target id names, if it is one (not yet checked against a list). */
export function parseEndpointId(id: string): { host: string; port: number } | undefined {
  const m = ENDPOINT_ID.exec(id);
  if (!m) return undefined;
  const host = (m[1] as string).replace(/_/g, ':');
  const port = Number(m[2]);
  if (net.isIP(host) === 0 || port < 1 || port > 65_535) return undefined;
  return { host, port };
}

/** A compiled allowlist: `target(id)` is the endpoint's target config, or undefined. */
export class EndpointPolicy {
  readonly #blocks = new net.BlockList();
  readonly #ports: { from: number; to: number }[];

  constructor(list: EndpointAllowlist) {
    for (const r of list.ranges) {
      const [addr, bits] = r.split('/');
      const family = net.isIP(addr ?? '');
      if (family === 0)
        throw invalid(`"vmEndpoints.ranges": "${r}" is not an address or CIDR block`);
      const type = family === 6 ? 'ipv6' : 'ipv4';
      if (bits === undefined) this.#blocks.addAddress(addr as string, type);
      else {
        const prefix = Number(bits);
        if (!/^\d{1,3}$/.test(bits) || prefix > (family === 6 ? 128 : 32))
          throw invalid(`"vmEndpoints.ranges": "${r}" has a bad prefix length`);
        this.#blocks.addSubnet(addr as string, prefix, type);
      }
    }
    this.#ports = list.ports;
  }

  target(id: string): TargetConfig | undefined {
    const ep = parseEndpointId(id);
    if (!ep) return undefined;
    const type = net.isIP(ep.host) === 6 ? 'ipv6' : 'ipv4';
    if (!this.#blocks.check(ep.host, type)) return undefined;
    if (!this.#ports.some((p) => ep.port >= p.from && ep.port <= p.to)) return undefined;
    return { host: ep.host, port: ep.port };
  }
}

/** The config file's `"vmEndpoints"` (pure). */
export function parseEndpointAllowlist(value: unknown, source: string): EndpointAllowlist {
  const o = (typeof value === 'object' && value !== null ? value : undefined) as
    Record<string, unknown> | undefined;
  const shape = '{ "ranges": ["10.0.0.0/8", …], "ports": [35963, "36000-36099", …] }';
  if (!o || !Array.isArray(o['ranges']) || !Array.isArray(o['ports']))
    throw invalid(`${source}: "vmEndpoints" must be ${shape}`);
  checkKnownKeys(o, ['ranges', 'ports'], source, 'vmEndpoints');
  const ranges = o['ranges'].map((r) => {
    if (typeof r !== 'string') throw invalid(`${source}: "vmEndpoints.ranges" holds strings`);
    return r;
  });
  const ports = o['ports'].map((p) => parsePortRange(p, source));
  const list = { ranges, ports };
  new EndpointPolicy(list); // checks the ranges
  return list;
}

function parsePortRange(p: unknown, source: string): { from: number; to: number } {
  const ok = (n: number) => Number.isInteger(n) && n >= 1 && n <= 65_535;
  if (typeof p === 'number' && ok(p)) return { from: p, to: p };
  const m = typeof p === 'string' ? /^(\d{1,5})-(\d{1,5})$/.exec(p) : null;
  if (m && ok(Number(m[1])) && ok(Number(m[2])) && Number(m[1]) <= Number(m[2]))
    return { from: Number(m[1]), to: Number(m[2]) };
  throw invalid(`${source}: "vmEndpoints.ports": ${JSON.stringify(p)} is not a port or "from-to"`);
}
