/**
 * The config file's shared checks (src/config/values.ts): unknown keys and PEM file paths, and
 * the exact messages every config-file object that uses them gives (vmTls, http, operator,
 * operator.tls, cluster, vmEndpoints and the top level).
 */
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseClusterFile } from '../src/cluster/config.ts';
import { parseEndpointAllowlist } from '../src/cluster/endpoints.ts';
import { applyConfigFile, FILE_KEYS } from '../src/config/file.ts';
import type { ConfigDraft } from '../src/config/types.ts';
import { checkKnownKeys, pemFilePath } from '../src/config/values.ts';
import { parseOperatorFile } from '../src/operator/config.ts';
import { configErrorMessage as message } from './config-error.ts';

describe('checkKnownKeys', () => {
  it('accepts an object whose keys are all allowed (or none)', () => {
    expect(() =>
      checkKnownKeys({ a: 1, b: undefined }, ['a', 'b', 'c'], 'f.json', 'x'),
    ).not.toThrow();
    expect(() => checkKnownKeys({}, [], 'f.json', 'x')).not.toThrow();
  });

  it('names the first unknown key with its dotted path and the allowed keys', () => {
    expect(message(() => checkKnownKeys({ a: 1, z: 2, y: 3 }, ['a', 'b'], 'f.json', 'x.y'))).toBe(
      'f.json: unknown key "x.y.z" (allowed: a, b)',
    );
  });

  it('names a top-level key without a path', () => {
    expect(message(() => checkKnownKeys({ lisen: 1 }, ['listen'], 'f.json', ''))).toBe(
      'f.json: unknown key "lisen" (allowed: listen)',
    );
  });

  it('does not take inherited names for allowed keys', () => {
    expect(message(() => checkKnownKeys({ toString: 1 }, ['a'], 'f.json', 'x'))).toBe(
      'f.json: unknown key "x.toString" (allowed: a)',
    );
  });
});

describe('pemFilePath', () => {
  it('resolves a relative path against the base directory and keeps an absolute one', () => {
    expect(pemFilePath({ cert: 'c.pem' }, 'cert', 'f.json', 'vmTls', '/etc/relay')).toBe(
      path.resolve('/etc/relay', 'c.pem'),
    );
    expect(pemFilePath({ cert: '/pki/c.pem' }, 'cert', 'f.json', 'vmTls', '/etc/relay')).toBe(
      path.resolve('/pki/c.pem'),
    );
  });

  it.each([[''], [7], [undefined], [null], [['a.pem']]])('refuses %j', (v) => {
    expect(message(() => pemFilePath({ key: v }, 'key', 'f.json', 'operator.tls', '/'))).toBe(
      'f.json: "operator.tls.key" must be a PEM file path',
    );
  });
});

describe('the messages of the config-file objects that use them', () => {
  const file = (json: unknown) => () => applyConfigFile({} as ConfigDraft, json, 'r.json', '/d');
  const vmTls = { listen: '127.0.0.1:0', cert: 'c', key: 'k', ca: 'a' };
  const tls = { cert: 'c', key: 'k', ca: 'a' };
  const operator = (extra: Record<string, unknown>) => () =>
    parseOperatorFile({ listen: '127.0.0.1:0', secretFile: 's', ...extra }, 'r.json', '/d');

  it.each<[string, () => unknown, string]>([
    [
      'top level',
      file({ lisen: 1 }),
      `r.json: unknown key "lisen" (allowed: ${FILE_KEYS.join(', ')})`,
    ],
    [
      'http',
      file({ http: { x: 1 } }),
      'r.json: unknown key "http.x" (allowed: headersTimeoutMs, requestTimeoutMs, keepAliveTimeoutMs, maxHeaderBytes)',
    ],
    [
      'vmTls',
      file({ vmTls: { ...vmTls, crt: 'x' } }),
      'r.json: unknown key "vmTls.crt" (allowed: listen, cert, key, ca, targetFromCn)',
    ],
    [
      'vmTls PEM',
      file({ vmTls: { ...vmTls, ca: '' } }),
      'r.json: "vmTls.ca" must be a PEM file path',
    ],
    [
      'operator',
      operator({ tlz: 1 }),
      'r.json: unknown key "operator.tlz" (allowed: listen, secretFile, tls)',
    ],
    [
      'operator.tls',
      operator({ tls: { ...tls, crt: 'x' } }),
      'r.json: unknown key "operator.tls.crt" (allowed: cert, key, ca)',
    ],
    [
      'operator.tls PEM',
      operator({ tls: { ...tls, cert: 3 } }),
      'r.json: "operator.tls.cert" must be a PEM file path',
    ],
    [
      'operator.tls lacks',
      operator({ tls: { cert: 'c', key: 'k' } }),
      'r.json: "operator.tls" lacks "ca"',
    ],
    [
      'cluster',
      () => parseClusterFile({ node: 'a' }, 'r.json', '/'),
      'r.json: unknown key "cluster.node" (allowed: redis, nodeId, advertise, leaseMs, linkTls)',
    ],
    [
      'vmEndpoints',
      () => parseEndpointAllowlist({ ranges: [], ports: [], hosts: [] }, 'r.json'),
      'r.json: unknown key "vmEndpoints.hosts" (allowed: ranges, ports)',
    ],
  ])('%s', (_name, fn, expected) => {
    expect(message(fn)).toBe(expected);
  });
});
