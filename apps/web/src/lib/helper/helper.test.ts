import { describe, expect, it, vi } from 'vitest';
import {
  DEFAULT_HELPER_URL,
  discoverHelper,
  helperUrlFrom,
  loopbackPermission,
} from './discovery.ts';
import { fakeSockets } from './fake-helper-socket.test-support.ts';
import { HelperClient } from './helper-client.ts';
import { HelperPanel } from './helper-panel.svelte.ts';
import { HELPER_PROBLEMS } from '@cardlend/problems';
import { explainHelperCode, explainHelperCondition } from './helper-words.ts';
import { readerCodeFor } from './helper-reader.ts';
import { HELPER_ERROR_CODES } from '@cardlend/helper-protocol';

const tick = (): Promise<void> => new Promise((r) => setTimeout(r, 0));

describe('discovery', () => {
  it('uses the default address unless ?helper= names a loopback helper', () => {
    expect(helperUrlFrom('https://lend.example.org/')).toBe(DEFAULT_HELPER_URL);
    expect(DEFAULT_HELPER_URL).toBe('ws://127.0.0.1:28163/cardlend-helper');
    expect(helperUrlFrom('https://x.org/?helper=ws://127.0.0.1:4000/cardlend-helper')).toBe(
      'ws://127.0.0.1:4000/cardlend-helper',
    );
    expect(helperUrlFrom('https://x.org/?helper=ws://evil.org:4000/cardlend-helper')).toBe(
      DEFAULT_HELPER_URL,
    );
    expect(helperUrlFrom('not a url')).toBe(DEFAULT_HELPER_URL);
  });

  it('reads the loopback-network permission, never throwing', async () => {
    expect(await loopbackPermission(undefined)).toBe('unknown');
    const query = vi.fn(async ({ name }: { name: string }) => {
      if (name === 'loopback-network') throw new TypeError('unknown permission');
      return { state: 'denied' };
    });
    expect(await loopbackPermission({ query })).toBe('denied');
    expect(await loopbackPermission({ query: async () => ({ state: 'granted' }) })).toBe('granted');
  });

  it.each<[string, number, string, 'denied' | 'prompt', object]>([
    ['blocked by the browser', 1006, '', 'denied', { kind: 'blocked' }],
    ['no helper', 1006, '', 'prompt', { kind: 'absent', permission: 'prompt' }],
    [
      'refused',
      4429,
      'HELPER_TOO_MANY_CONNECTIONS',
      'prompt',
      { kind: 'refused', code: 'HELPER_TOO_MANY_CONNECTIONS' },
    ],
  ])('%s', async (_, code, reason, permission, want) => {
    const { sockets, create } = fakeSockets();
    const found = discoverHelper({
      url: DEFAULT_HELPER_URL,
      createSocket: create,
      permission: async () => permission,
    });
    sockets[0]?.serverClose(code, reason);
    expect(await found).toEqual(want);
  });
});

describe('HelperClient', () => {
  it('drops a late answer, ignores malformed messages and checks results', async () => {
    vi.useFakeTimers();
    try {
      const { sockets, create } = fakeSockets();
      const connecting = HelperClient.connect({ url: 'ws://x', createSocket: create });
      const s = sockets[0]!;
      s.hello(true);
      const client = await connecting;
      const late = client.request({ type: 'list' }, 100);
      const lateId = s.sent[0]?.['id'];
      vi.advanceTimersByTime(101);
      await expect(late).rejects.toMatchObject({ code: 'TIMEOUT' });
      s.message({ type: 'ok', id: lateId, result: { readers: [] } }); // dropped
      s.message('{not json');
      s.message({ type: 'evil' });
      const status = client.request({ type: 'status', reader: 'r' });
      s.answer('status', { slot: 'on fire' });
      await expect(status).rejects.toMatchObject({ code: 'HELPER_MALFORMED' });
      const list = client.request({ type: 'list' });
      s.answer('list', { readers: [{ name: 'R', card: 'present', inUse: false }] });
      expect(await list).toEqual({ readers: [{ name: 'R', card: 'present', inUse: false }] });
      const pending = client.request({ type: 'list' });
      s.serverClose(4503, 'HELPER_STOPPING');
      await expect(pending).rejects.toMatchObject({ code: 'HELPER_STOPPING' });
      expect(client.isOpen).toBe(false);
    } finally {
      vi.useRealTimers();
    }
  });
});

describe('HelperPanel', () => {
  it('not approved → pairing with the code → ready with readers → stopped', async () => {
    const { sockets, create } = fakeSockets();
    const panel = new HelperPanel({
      url: DEFAULT_HELPER_URL,
      createSocket: create,
      permission: async () => 'granted',
    });
    const finding = panel.find();
    const s = sockets[0]!;
    s.hello(false);
    await finding;
    expect(panel.status).toBe('not-approved');
    expect(panel.readers).toEqual([]);
    const pairing = panel.pair();
    expect(panel.status).toBe('pairing');
    s.message({ type: 'pairing', code: '042137' });
    expect(panel.pairingCode).toBe('042137');
    s.answer('pair', { approved: true });
    await tick();
    s.answer('list', {
      readers: [{ name: 'Reader 0B', card: 'present', atr: '3b00', inUse: false }],
    });
    await pairing;
    expect(panel.status).toBe('ready');
    expect(panel.readers.map((r) => r.name)).toEqual(['Reader 0B']);
    s.serverClose(4503, 'HELPER_STOPPING');
    expect(panel.status).toBe('stopped');
    expect(panel.code).toBe('HELPER_STOPPING');
  });

  it('a refused pairing is explained', async () => {
    const { sockets, create } = fakeSockets();
    const panel = new HelperPanel({
      url: 'ws://x',
      createSocket: create,
      permission: async () => 'granted',
    });
    const finding = panel.find();
    sockets[0]!.hello(false);
    await finding;
    const pairing = panel.pair();
    sockets[0]!.refuseLast('HELPER_PAIRING_REFUSED', 'no');
    await pairing;
    expect(panel.status).toBe('refused');
    expect(panel.code).toBe('HELPER_PAIRING_REFUSED');
  });
});

describe('texts and codes', () => {
  it('explains every helper code from the catalog and maps each onto a reader code', () => {
    for (const code of HELPER_ERROR_CODES) {
      expect(HELPER_PROBLEMS[code], code).toBeDefined();
      const e = explainHelperCode(code, 'windows');
      expect(e.id).toBe(HELPER_PROBLEMS[code]);
      expect(e.reference).toBe(code);
      expect(e.fixes.length).toBeGreaterThan(0);
      expect(readerCodeFor(code)).toMatch(/^CCID_/);
    }
    expect(explainHelperCode('HELPER_STOPPING', 'linux').title).toBe('The cardlend helper stopped');
    expect(explainHelperCondition('helper-blocked', 'linux').fixes[0]?.text).toContain(
      'Local network access',
    );
    expect(explainHelperCondition('helper-absent', 'linux').fixes[0]?.command).toBe(
      'npx cardlend serve',
    );
    expect(readerCodeFor('HELPER_READER_IN_USE')).toBe('CCID_DEVICE_BUSY');
    expect(readerCodeFor('CCID_CARD_ABSENT')).toBe('CCID_CARD_ABSENT');
    expect(readerCodeFor('TIMEOUT')).toBe('CCID_TIMEOUT');
  });
});
