/**
 * Tokens naming a VM endpoint (`ep-<address>-<port>`) inside the `vmEndpoints` allowlist: the
 * policy alone, the config file, and a relay lending to an allowed endpoint while refusing one
 * outside the ranges or ports (4001, as any target it does not serve).
 */
import { RELAY_SUBPROTOCOL, RELAY_TOKEN_SUBPROTOCOL_PREFIX, RelayClose } from '@cardlend/vscard';
import { afterEach, describe, expect, it } from 'vitest';
import { mintToken } from '../../src/auth/tokens.ts';
import {
  EndpointPolicy,
  endpointTargetId,
  parseEndpointAllowlist,
} from '../../src/cluster/endpoints.ts';
import type { RelayServer } from '../../src/server.ts';
import { Browser, FakeVmHost, msg, startTestRelay, until, wsUrl } from '../helpers.ts';

const SECRET = new Uint8Array(32).fill(6);

describe('endpoint policy', () => {
  const policy = new EndpointPolicy(
    parseEndpointAllowlist(
      { ranges: ['10.0.0.0/8', 'fd00::/8', '192.0.2.7'], ports: [35963, '36000-36009'] },
      'relay.json',
    ),
  );

  it.each([
    ['10.1.2.3', 35963, true],
    ['10.1.2.3', 36009, true],
    ['192.0.2.7', 36000, true],
    ['fd00::15', 35963, true],
    ['10.1.2.3', 36010, false],
    ['11.0.0.1', 35963, false],
    ['192.0.2.8', 35963, false],
    ['fe80::1', 35963, false],
  ])('%s:%i allowed: %s', (host, port, isAllowed) => {
    const id = endpointTargetId(host, port);
    expect(policy.target(id)).toEqual(isAllowed ? { host, port } : undefined);
  });

  it('only address literals, only ep- ids', () => {
    expect(policy.target('ep-vm.example.com-35963')).toBeUndefined();
    expect(policy.target('lab-1')).toBeUndefined();
    expect(policy.target('ep-10.1.2.3-99999')).toBeUndefined();
  });

  it.each([
    [{ ranges: ['10.0.0.0/33'], ports: [1] }, /bad prefix/],
    [{ ranges: ['not-an-ip'], ports: [1] }, /not an address/],
    [{ ranges: [], ports: ['9-1'] }, /not a port/],
    [{ ranges: [] }, /must be/],
    [{ ranges: [], ports: [], hosts: [] }, /unknown key/],
  ])('refuses %j', (value, message) => {
    expect(() => parseEndpointAllowlist(value, 'relay.json')).toThrow(message);
  });
});

describe('a relay with vmEndpoints', () => {
  let host: FakeVmHost | undefined;
  let relay: RelayServer | undefined;
  afterEach(async () => {
    await relay?.close();
    await host?.close();
  });

  function open(r: RelayServer, target: string): Browser {
    const token = mintToken({
      secret: SECRET,
      targetId: target,
      ttlSeconds: 60,
      nowMs: Date.now(),
    });
    return new Browser(wsUrl(r), [RELAY_SUBPROTOCOL, RELAY_TOKEN_SUBPROTOCOL_PREFIX + token]);
  }

  it('lends to an allowed endpoint a token names, refuses one outside the list', async () => {
    host = await FakeVmHost.start();
    ({ relay } = await startTestRelay(1, {
      tokenSecrets: [SECRET],
      vmEndpoints: { ranges: ['127.0.0.0/8'], ports: [{ from: host.port, to: host.port }] },
    }));
    const b = open(relay, endpointTargetId('127.0.0.1', host.port));
    await b.opened;
    await until(() => (host?.connections.length ?? 0) === 1, 3000);
    b.send(msg(3, 0));
    const vm = host.connections[0];
    await vm?.waitFor(() => (vm?.messages.length ?? 0) === 1, 3000, 'ReaderAdd');
    const otherPort = open(relay, endpointTargetId('127.0.0.1', host.port + 1));
    expect((await otherPort.closed).code).toBe(RelayClose.UNAUTHORIZED);
    const otherRange = open(relay, endpointTargetId('10.0.0.1', host.port));
    expect((await otherRange.closed).code).toBe(RelayClose.UNAUTHORIZED);
    // One browser per endpoint, as per target.
    const second = open(relay, endpointTargetId('127.0.0.1', host.port));
    expect((await second.closed).code).toBe(RelayClose.VM_IN_USE);
    b.ws.terminate();
  });
});
