import { mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resolveUnderRoot } from '../src/static-files.ts';
import type { RelayServer } from '../src/server.ts';
import { makeStaticDir, startTestRelay } from './helpers.ts';

/** A raw request: the path is sent exactly as given (no client-side normalisation). */
function get(
  port: number,
  rawPath: string,
  method = 'GET',
): Promise<{ status: number; type: string; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path: rawPath, method }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () =>
        resolve({ status: res.statusCode ?? 0, type: String(res.headers['content-type']), body }),
      );
    });
    req.on('error', reject);
    req.end();
  });
}

describe('static files', () => {
  let relay: RelayServer;
  let staticDir: string;
  let outside: string;

  beforeAll(async () => {
    staticDir = makeStaticDir();
    outside = mkdtempSync(path.join(os.tmpdir(), 'cardlend-outside-'));
    writeFileSync(path.join(outside, 'secret.txt'), 'TOP-SECRET');
    symlinkSync(path.join(outside, 'secret.txt'), path.join(staticDir, 'link.txt'));
    symlinkSync(outside, path.join(staticDir, 'linkdir'));
    ({ relay } = await startTestRelay(1, { staticDir }));
  });

  afterAll(async () => {
    await relay.close();
    rmSync(outside, { recursive: true, force: true });
    rmSync(staticDir, { recursive: true, force: true });
  });

  it('serves index.html for / with text/html and no-cache', async () => {
    const r = await get(relay.address.port, '/');
    expect(r.status).toBe(200);
    expect(r.type).toBe('text/html; charset=utf-8');
    expect(r.body).toContain('<title>cardlend</title>');
  });

  it('serves assets with their MIME types', async () => {
    const js = await get(relay.address.port, '/assets/app-1234.js');
    expect(js.status).toBe(200);
    expect(js.type).toBe('text/javascript; charset=utf-8');
    const css = await get(relay.address.port, '/assets/app-1234.css?v=1');
    expect(css.type).toBe('text/css; charset=utf-8');
  });

  it('answers HEAD without a body and refuses other methods', async () => {
    const head = await get(relay.address.port, '/', 'HEAD');
    expect(head.status).toBe(200);
    expect(head.body).toBe('');
    expect((await get(relay.address.port, '/', 'POST')).status).toBe(405);
  });

  it('404s missing files', async () => {
    expect((await get(relay.address.port, '/nope.js')).status).toBe(404);
  });

  it.each([
    '/../package.json',
    '/../../../../etc/passwd',
    '/%2e%2e/%2e%2e/%2e%2e/etc/passwd',
    '/assets/..%2f..%2f..%2fetc%2fpasswd',
    '/..%5c..%5cetc%5cpasswd',
    '/%00index.html',
    '/%E0%A4%A',
    '/link.txt',
    '/linkdir/secret.txt',
  ])('never serves anything outside the root: %s', async (p) => {
    const r = await get(relay.address.port, p);
    expect([400, 404]).toContain(r.status);
    expect(r.body).not.toContain('TOP-SECRET');
    expect(r.body).not.toContain('root:');
  });

  it('resolveUnderRoot keeps paths inside the root', () => {
    expect(resolveUnderRoot('/srv/app', '/a/../b.js')).toBe('/srv/app/b.js');
    expect(resolveUnderRoot('/srv/app', '/../../etc/passwd')).toBe('/srv/app/etc/passwd');
    expect(resolveUnderRoot('/srv/app', '/%2e%2e/x')).toBe('/srv/app/x');
    expect(resolveUnderRoot('/srv/app', '/a%00b')).toBeUndefined();
    expect(resolveUnderRoot('/srv/app', '/%zz')).toBeUndefined();
  });
});

describe('when the web app is not built', () => {
  it('shows a page that says how to build it', async () => {
    const missing = path.join(os.tmpdir(), 'cardlend-no-such-dist-' + process.pid);
    const { relay } = await startTestRelay(1, { staticDir: missing });
    try {
      const r = await get(relay.address.port, '/');
      expect(r.status).toBe(503);
      expect(r.type).toMatch(/text\/html/);
      expect(r.body).toMatch(/not been built/);
      expect(r.body).toMatch(/--filter @cardlend\/web build/);
    } finally {
      await relay.close();
    }
  });
});
