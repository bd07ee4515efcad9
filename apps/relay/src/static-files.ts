/**
 * Serves the built web app: GET/HEAD only, MIME types by extension, no path traversal
 * (decoded path resolved under the root, symlinks resolved and re-checked), `index.html` for
 * directories, and a help page when the app has not been built.
 */
import { createReadStream } from 'node:fs';
import { realpath, stat } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import path from 'node:path';

/** Content types by file extension. */
export const MIME_TYPES: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.webmanifest': 'application/manifest+json',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg',
  '.gif': 'image/gif',
  '.webp': 'image/webp',
  '.ico': 'image/x-icon',
  '.txt': 'text/plain; charset=utf-8',
  '.wasm': 'application/wasm',
  '.woff': 'font/woff',
  '.woff2': 'font/woff2',
};

const SECURITY_HEADERS = {
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'no-referrer',
  'X-Frame-Options': 'DENY',
};

/** The page shown while `apps/web/dist` does not exist. */
export function notBuiltPage(staticDir: string): string {
  const dir = staticDir.replace(/[&<>"]/g, (c) => `&#${c.charCodeAt(0)};`);
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>cardlend: web app not built</title></head>
<body>
<h1>The cardlend web app has not been built yet</h1>
<p>The relay is running, but it found no built page in <code>${dir}</code>.</p>
<p>Build it, then reload this page:</p>
<pre>npx -y pnpm@12.4.2 --filter @cardlend/web build</pre>
<p>(or start everything at once with <code>npx -y pnpm@12.4.2 start</code>).</p>
</body></html>
`;
}

function send(
  res: ServerResponse,
  status: number,
  body: string,
  type = 'text/plain; charset=utf-8',
): void {
  res.writeHead(status, {
    ...SECURITY_HEADERS,
    'Content-Type': type,
    'Content-Length': Buffer.byteLength(body),
  });
  res.end(res.req.method === 'HEAD' ? undefined : body);
}

/**
 * Maps a URL path to a file path inside `root`, or `undefined` if it would leave the root
 * or is malformed (bad percent-encoding, NUL, backslash).
 */
export function resolveUnderRoot(root: string, urlPath: string): string | undefined {
  let decoded: string;
  try {
    decoded = decodeURIComponent(urlPath);
  } catch {
    return undefined;
  }
  if (decoded.includes('\0') || decoded.includes('\\')) return undefined;
  const full = path.resolve(root, '.' + path.posix.normalize('/' + decoded));
  if (full !== root && !full.startsWith(root + path.sep)) return undefined;
  return full;
}

/** A request handler serving `staticDir`. */
export function createStaticHandler(
  staticDir: string,
): (req: IncomingMessage, res: ServerResponse) => Promise<void> {
  const root = path.resolve(staticDir);
  return async (req, res) => {
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.setHeader('Allow', 'GET, HEAD');
      send(res, 405, 'Method not allowed.\n');
      return;
    }
    let realRoot: string;
    try {
      realRoot = await realpath(root);
      await stat(path.join(realRoot, 'index.html'));
    } catch {
      send(res, 503, notBuiltPage(root), 'text/html; charset=utf-8');
      return;
    }
    const urlPath = (req.url ?? '/').split('?')[0]?.split('#')[0] ?? '/';
    const candidate = resolveUnderRoot(realRoot, urlPath);
    if (candidate === undefined) {
      send(res, 400, 'Bad path.\n');
      return;
    }
    let file: string;
    try {
      file = await realpath(candidate);
      if (file !== realRoot && !file.startsWith(realRoot + path.sep)) {
        send(res, 404, 'Not found.\n');
        return;
      }
      const info = await stat(file);
      if (info.isDirectory()) {
        file = path.join(file, 'index.html');
        await stat(file);
      } else if (!info.isFile()) {
        send(res, 404, 'Not found.\n');
        return;
      }
    } catch {
      send(res, 404, 'Not found.\n');
      return;
    }
    const info = await stat(file);
    const ext = path.extname(file).toLowerCase();
    res.writeHead(200, {
      ...SECURITY_HEADERS,
      'Content-Type': MIME_TYPES[ext] ?? 'application/octet-stream',
      'Content-Length': info.size,
      // Vite puts content hashes in asset names; the page itself must always be fresh.
      'Cache-Control': urlPath.startsWith('/assets/')
        ? 'public, max-age=31536000, immutable'
        : 'no-cache',
    });
    if (req.method === 'HEAD') {
      res.end();
      return;
    }
    const stream = createReadStream(file);
    stream.on('error', () => res.destroy());
    stream.pipe(res);
  };
}
