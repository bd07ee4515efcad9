/**
 * Once the token step has used it, the relay keeps neither the session token nor the
 * `Sec-WebSocket-Protocol` header that carried it (admission/offer.ts):
 * - the one object that crosses from admission into the session (`runSession`'s admitted
 *   session) has no offer in it, and its client part only the fields of `ClientInfo`;
 * - a heap snapshot of this process, taken while a session admitted with a real token runs,
 *   holds the token text nowhere (no header, closure, event or audit payload keeps it).
 *
 * The client runs in a child process and the token is held here only as bytes (a snapshot
 * lists strings, not buffer contents), so this process has no string of it of its own.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { getHeapSnapshot } from 'node:v8';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { AdmittedSession } from '../src/admission/types.ts';
import type * as SessionRunner from '../src/session-runner.ts';
import { mintToken } from '../src/auth/tokens.ts';
import { fakeVmRigPerTest } from './relay-rig.ts';
import { wsUrl } from './helpers.ts';

const kept = vi.hoisted(() => ({ admitted: [] as unknown[] }));
vi.mock('../src/session-runner.ts', async (importOriginal) => {
  const original = await importOriginal<typeof SessionRunner>();
  return {
    ...original,
    runSession: (...args: Parameters<typeof original.runSession>) => {
      kept.admitted.push(args[2]);
      return original.runSession(...args);
    },
  };
});

const SECRET = Uint8Array.from(Buffer.from('k'.repeat(40)));
const rig = fakeVmRigPerTest({}, () => ({
  config: { tokenSecrets: [SECRET], authTimeoutMs: 2000, resumeGraceMs: 30_000 },
}));

/**
 * A page stand-in in its own process: reads the token from stdin, offers it (in the header, or
 * as its first message), sends Init, prints `ready` once the relay's VM answered and — offered
 * `cardlend.resume.v1` — the resume ticket arrived, then stays connected.
 */
const CLIENT = `
const WebSocket = require('ws');
const [url, how] = process.argv.slice(1);
let input = '';
process.stdin.on('data', (d) => (input += d));
process.stdin.on('end', () => {
  const protocols = ['cardlend.vscard.v1', 'cardlend.resume.v1'];
  if (how === 'header') protocols.push('cardlend.token.' + input);
  const ws = new WebSocket(url, protocols);
  let answered = false, ticket = false;
  const check = () => { if (answered && ticket) console.log('ready'); };
  ws.on('open', () => {
    if (how === 'first-message') ws.send(JSON.stringify({ token: input }));
    ws.send(Buffer.from('00000001000000000000000c565343440000000200000000', 'hex'));
  });
  ws.on('message', (data, isBinary) => {
    if (isBinary) answered = true; else ticket = true;
    check();
  });
  ws.on('close', (code) => { console.log('closed ' + code); process.exit(1); });
});
`;

let child: ChildProcess | undefined;
/** Strings the control test keeps on purpose. */
const held: string[] = [];
afterEach(() => {
  child?.kill();
  child = undefined;
  kept.admitted.length = 0;
  held.length = 0;
});

/** Starts the client with `token` (bytes) and waits for its `ready`. */
async function lendFromChild(token: Buffer, how: 'header' | 'first-message'): Promise<void> {
  const c = spawn(process.execPath, ['-e', CLIENT, wsUrl(rig.relay), how], {
    cwd: new URL('..', import.meta.url),
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  child = c;
  c.stdin?.end(token);
  const [line] = (await once(c.stdout as NodeJS.ReadableStream, 'data')) as [Buffer];
  expect(line.toString().trim()).toBe('ready');
}

/** Whether a heap snapshot of this process, taken now, holds `needle` (streamed, not kept). */
async function heapHolds(needle: Buffer): Promise<boolean> {
  const snapshot = getHeapSnapshot();
  let tail = Buffer.alloc(0);
  let isFound = false;
  for await (const chunk of snapshot as AsyncIterable<Buffer>) {
    const window = Buffer.concat([tail, chunk]);
    if (window.includes(needle)) isFound = true;
    tail = window.subarray(Math.max(0, window.length - needle.length));
  }
  return isFound;
}

/** A fresh token for the default target, as bytes only. */
function tokenBytes(): Buffer {
  return Buffer.from(
    mintToken({ secret: SECRET, targetId: 'default', ttlSeconds: 60, nowMs: Date.now() }),
  );
}

describe('an admitted session keeps no token', () => {
  it.each(['header', 'first-message'] as const)(
    'offered in the %s: not in what crosses into the session, nowhere in the heap',
    async (how) => {
      const token = tokenBytes();
      await lendFromChild(token, how);
      expect(rig.events.some((e) => e.kind === 'session-start')).toBe(true);
      expect(await heapHolds(token), 'the token text is still on the heap').toBe(false);

      expect(kept.admitted).toHaveLength(1);
      const admitted = kept.admitted[0] as AdmittedSession;
      expect(Object.keys(admitted.client).sort()).toEqual([
        'clientAddress',
        'host',
        'isResumeCapable',
        'origin',
        'remote',
      ]);
      expect(admitted.client.isResumeCapable).toBe(true);
      // The VM's TCP socket never saw the browser's request; everything else is walked.
      const { vm: _vm, ...rest } = admitted;
      const text = token.toString();
      for (const s of stringsIn(rest)) expect(s).not.toContain(text);
    },
  );
});

describe('the heap scan', () => {
  it('finds a token this process keeps, even as a slice of a header (the control)', async () => {
    const token = tokenBytes();
    const header = `cardlend.vscard.v1, cardlend.token.${token.toString()}, cardlend.resume.v1`;
    held.push(header.slice(header.indexOf('cardlend.token.')));
    expect(await heapHolds(token)).toBe(true);
  });
});

/** Every string reachable from `root` through own properties, arrays, Maps and Sets. */
function stringsIn(root: unknown): string[] {
  const out: string[] = [];
  const seen = new Set<object>();
  const walk = (v: unknown): void => {
    if (typeof v === 'string') out.push(v);
    if (typeof v !== 'object' || v === null || seen.has(v)) return;
    seen.add(v);
    const values =
      v instanceof Map
        ? [...v.keys(), ...v.values()]
        : v instanceof Set
          ? [...v]
          : Object.values(v);
    for (const x of values) walk(x);
  };
  walk(root);
  return out;
}
