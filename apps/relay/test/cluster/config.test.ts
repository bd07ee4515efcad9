/** The cluster settings from flags and the config file: merged part by part, checked, precise errors. */
import { describe, expect, it } from 'vitest';
import { parseArgs } from '../../src/config.ts';

const FILES: Record<string, string> = {
  '/etc/relay.json': JSON.stringify({
    cluster: { redis: 'redis://10.0.0.5:6379', nodeId: 'relay-a', advertise: '10.0.0.11:8443' },
  }),
  '/etc/partial.json': JSON.stringify({
    cluster: { redis: 'redis://10.0.0.5:6379', leaseMs: 2000 },
  }),
  '/etc/bad-key.json': JSON.stringify({ cluster: { redis: 'redis://h:1', node: 'x' } }),
  '/etc/not-object.json': JSON.stringify({ cluster: 'redis://h:1' }),
};
const io = { cwd: '/work', readFile: (f: string) => FILES[f] ?? '{}' };

function config(argv: string[]) {
  const parsed = parseArgs(argv, io);
  if (parsed.kind !== 'run') throw new Error('help');
  return parsed.config;
}

describe('cluster settings', () => {
  it('absent: a relay alone', () => {
    expect(config([]).cluster).toBeUndefined();
  });

  it('from flags', () => {
    expect(
      config([
        '--cluster',
        'redis://127.0.0.1:6379',
        '--node-id',
        'n1',
        '--advertise',
        '127.0.0.1:9001',
      ]).cluster,
    ).toEqual({ redisUrl: 'redis://127.0.0.1:6379', nodeId: 'n1', advertise: '127.0.0.1:9001' });
  });

  it('from the file, flags win part by part', () => {
    expect(config(['--config', '/etc/relay.json', '--node-id', 'relay-b']).cluster).toEqual({
      redisUrl: 'redis://10.0.0.5:6379',
      nodeId: 'relay-b',
      advertise: '10.0.0.11:8443',
    });
    expect(
      config(['--config', '/etc/partial.json', '--node-id', 'c', '--advertise', 'h:1']).cluster,
    ).toEqual({ redisUrl: 'redis://10.0.0.5:6379', leaseMs: 2000, nodeId: 'c', advertise: 'h:1' });
  });

  it.each([
    [['--cluster', 'redis://h:1'], /missing --node-id .*--advertise/],
    [
      ['--cluster', 'http://h:1', '--node-id', 'a', '--advertise', 'h:1'],
      /--cluster must look like redis:\/\//,
    ],
    [['--cluster', 'redis://h', '--node-id', 'a', '--advertise', 'h:1'], /--cluster needs a port/],
    [['--cluster', 'redis://h:1', '--node-id', 'a b', '--advertise', 'h:1'], /--node-id must be/],
    [
      ['--cluster', 'redis://h:1', '--node-id', 'a', '--advertise', 'h'],
      /--advertise must look like HOST:PORT/,
    ],
    [['--config', '/etc/bad-key.json'], /unknown key "cluster.node"/],
    [
      ['--config', '/etc/not-object.json'],
      /"cluster" must be an object \{ "redis": .*"leaseMs"\?: MS, "linkTls"\?: \{ "cert": FILE, "key": FILE, "ca": FILE \} \}/,
    ],
  ])('refuses %j', (argv, message) => {
    expect(() => config(argv)).toThrow(message);
  });
});
