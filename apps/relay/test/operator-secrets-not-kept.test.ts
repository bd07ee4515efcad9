/**
 * The operator API keeps of its credentials only what it needs (src/operator/operator-api.ts):
 * the bearer secret's hash, not the secret; and the TLS material only as long as its server
 * serves it, so an old private key is not held past a SIGHUP that brought a new one.
 *
 * Checked with weak references and a forced garbage collection: a value still reachable from
 * the API stays; the control case shows that a kept value is seen as kept.
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { beforeAll, describe, expect, it } from 'vitest';
import { MemoryClusterStore } from '../src/cluster/memory-store.ts';
import { OperatorApi, type OperatorApiOptions } from '../src/operator/operator-api.ts';
import type { SessionRegistry } from '../src/operator/session-registry.ts';
import type { TlsMaterial } from '../src/operator/tls.ts';
import { makeCa } from './vm-certs.ts';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

/** Whether nothing reachable holds `ref`'s target any more (a few collections, one per turn). */
async function isCollected(ref: WeakRef<object>): Promise<boolean> {
  for (let i = 0; i < 5 && ref.deref() !== undefined; i++) {
    await new Promise((resolve) => setImmediate(resolve));
    gc();
  }
  return ref.deref() === undefined;
}

let materials: () => Promise<TlsMaterial>;

beforeAll(async () => {
  const ca = await makeCa('cardlend test operator CA');
  materials = async () => {
    const server = await ca.issueServer('relay operator API');
    return {
      cert: Buffer.from(server.cert),
      key: Buffer.from(server.key),
      ca: Buffer.from(ca.cert),
    };
  };
});

function api(secret: Uint8Array, tls?: TlsMaterial): OperatorApi {
  const opts: OperatorApiOptions = {
    listen: { host: '127.0.0.1', port: 0 },
    secret,
    store: new MemoryClusterStore(),
    registry: {} as SessionRegistry,
    nodeId: 'local',
    tokenSecret: undefined,
    isKnownTarget: () => false,
    now: Date.now,
    tls,
  };
  return new OperatorApi(opts);
}

/** An API on TLS material, then on renewed material (SIGHUP); only weak references to the keys. */
async function renewedApi() {
  const [first, renewed] = await Promise.all([materials(), materials()]);
  const operator = api(Buffer.from('operator-secret-0123456789'), first);
  operator.useTls(renewed);
  return { operator, oldKey: new WeakRef(first.key), newKey: new WeakRef(renewed.key) };
}

describe('operator API credentials', () => {
  it('keeps the hash of the bearer secret, not the secret', async () => {
    const kept: unknown[] = [];
    const refs = [true, false].map((isHeldHere) => {
      const secret = Buffer.from('operator-secret-0123456789');
      kept.push(api(secret));
      if (isHeldHere) kept.push(secret); // the control: a secret something still holds
      return new WeakRef(secret);
    });
    expect(await isCollected(refs[0] as WeakRef<object>)).toBe(false);
    expect(await isCollected(refs[1] as WeakRef<object>)).toBe(true);
    expect(kept).toHaveLength(3);
  });

  it('does not hold the old private key once new TLS material is in use', async () => {
    const { operator, oldKey, newKey } = await renewedApi();
    expect(await isCollected(newKey)).toBe(false); // the server serves it
    expect(await isCollected(oldKey)).toBe(true);
    expect(operator).toBeInstanceOf(OperatorApi);
  });
});
