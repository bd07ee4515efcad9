import { describe, expect, it } from 'vitest';
import browser from '../src/catalog/browser.json' with { type: 'json' };
import reader from '../src/catalog/reader.json' with { type: 'json' };
import relay from '../src/catalog/relay.json' with { type: 'json' };
import token from '../src/catalog/token.json' with { type: 'json' };
import helper from '../src/catalog/helper.json' with { type: 'json' };
import {
  BRIDGE_PROBLEMS,
  CCID_PROBLEMS,
  HELPER_PROBLEMS,
  PAGE_CONDITIONS,
  PCSC_PROBLEMS,
  PROBLEM_IDS,
  PROBLEMS,
  RELAY_CLOSE_PROBLEMS,
  renderProblem,
  VSCARD_PROBLEMS,
  type Client,
  type OsFamily,
  type ProblemId,
  type SourceKind,
} from '../src/index.ts';

const OS_FAMILIES: OsFamily[] = ['linux', 'windows', 'macos', 'chromeos', 'other'];
const CLIENTS: Client[] = ['page', 'cli'];

/** Problems a source the command line meets can lead to (everything but page-only conditions). */
const cliReachable = new Set<ProblemId>([
  ...Object.values(RELAY_CLOSE_PROBLEMS),
  ...Object.values(VSCARD_PROBLEMS),
  ...Object.values(PCSC_PROBLEMS).map(([, id]) => id),
  ...Object.values(BRIDGE_PROBLEMS).filter((id) => id !== 'no-websocket'),
  'relay-url-invalid',
  'token-invalid',
  'relay-unreachable',
  // The command line reads its token's claims too (issue 12), so it can tell token troubles apart.
  'token-missing',
  'token-malformed',
  'token-expired',
  'token-forged',
]);

const cases = PROBLEM_IDS.flatMap((id) =>
  OS_FAMILIES.flatMap((os) => CLIENTS.map((client) => [id, os, client] as const)),
);

describe('every problem renders for every OS family and client', () => {
  it.each(cases)('%s on %s (%s)', (id, os, client) => {
    const e = renderProblem({ id, reference: 'REF_X', params: {} }, { os, client });
    expect(e.id).toBe(id);
    expect(e.title.length).toBeGreaterThan(5);
    expect(e.cause.length).toBeGreaterThan(5);
    expect(e.reference).toBe('REF_X');
    if (client === 'page' || cliReachable.has(id)) expect(e.fixes.length).toBeGreaterThan(0);
    const all = [...e.fixes, ...e.otherSystemFixes];
    for (const fix of all) expect(fix.text.length).toBeGreaterThan(5);
    // Every placeholder has a default: nothing is left unfilled.
    expect(JSON.stringify(e)).not.toMatch(/\{\{\w+\}\}/);
    // No step is lost or shown twice: the OS only orders and folds.
    const forClient = PROBLEMS[id].fixes.filter(
      (f) => f.client === undefined || f.client === client,
    );
    expect(all).toHaveLength(forClient.length);
    if (os === 'linux' || os === 'windows' || os === 'macos') {
      expect(e.fixes.every((f) => f.os === undefined || f.os === os)).toBe(true);
      expect(e.otherSystemFixes.every((f) => f.os !== undefined && f.os !== os)).toBe(true);
    } else {
      expect(e.otherSystemFixes).toEqual([]);
    }
  });
});

const SEVERITIES = ['error', 'info'];
const FIX_OSES = ['linux', 'windows', 'macos'];
const SOURCE_KINDS = ['ccid', 'relay-close', 'vscard', 'pcsc', 'bridge', 'page', 'unknown'];

const isText = (x: unknown): boolean => typeof x === 'string' && x.trim().length > 5;
const keysWithin = (x: object, allowed: string[]): boolean =>
  Object.keys(x).every((k) => allowed.includes(k));

/** The JSON entry has exactly the shape `ProblemEntry` declares (the catalog is typed by a cast). */
function checkEntry(entry: unknown): string[] {
  const e = entry as Record<string, unknown>;
  const errors: string[] = [];
  const check = (ok: boolean, what: string): void => {
    if (!ok) errors.push(what);
  };
  check(keysWithin(e, ['severity', 'title', 'cause', 'fixes', 'defaults', 'bySource']), 'keys');
  check(SEVERITIES.includes(e['severity'] as string), 'severity');
  check(isText(e['title']) && isText(e['cause']), 'title/cause');
  check(Array.isArray(e['fixes']), 'fixes');
  for (const f of (e['fixes'] ?? []) as Record<string, unknown>[]) {
    check(keysWithin(f, ['text', 'command', 'os', 'client']) && isText(f['text']), 'fix');
    check(f['command'] === undefined || isText(f['command']), 'fix command');
    check(f['os'] === undefined || FIX_OSES.includes(f['os'] as string), 'fix os');
    check(f['client'] === undefined || CLIENTS.includes(f['client'] as Client), 'fix client');
  }
  const defaults = (e['defaults'] ?? {}) as Record<string, unknown>;
  check(Object.values(defaults).every(isText), 'defaults');
  const bySource = (e['bySource'] ?? {}) as Record<string, Record<string, unknown>>;
  for (const [kind, v] of Object.entries(bySource)) {
    check(SOURCE_KINDS.includes(kind) && keysWithin(v, ['title', 'cause']), `bySource ${kind}`);
    check(Object.values(v).every(isText), `bySource ${kind} text`);
  }
  return errors;
}

describe('the catalog', () => {
  it.each(PROBLEM_IDS)('%s has the shape of a ProblemEntry', (id) => {
    expect(checkEntry(PROBLEMS[id])).toEqual([]);
  });

  it('rejects entries of another shape (the check itself)', () => {
    expect(
      checkEntry({ severity: 'fatal', title: 'Title here', cause: 'Cause here', fixes: [] }),
    ).toEqual(['severity']);
    expect(
      checkEntry({
        severity: 'error',
        title: 'Title here',
        cause: 'Cause here',
        fixes: [{ text: 'Do it now', os: 'bsd' }],
        extra: 1,
      }),
    ).toEqual(['keys', 'fix os']);
  });

  it('has no id defined twice across its parts', () => {
    const parts = [browser, reader, relay, token, helper].map((p) => Object.keys(p));
    expect(new Set(parts.flat()).size).toBe(parts.flat().length);
    expect(PROBLEM_IDS).toHaveLength(parts.flat().length);
  });

  it('has no orphan entry: every problem is reached from some source code or condition', () => {
    const reached = new Set<ProblemId>([
      ...Object.values(CCID_PROBLEMS),
      ...Object.values(RELAY_CLOSE_PROBLEMS),
      ...Object.values(VSCARD_PROBLEMS),
      ...Object.values(PCSC_PROBLEMS).map(([, id]) => id),
      ...Object.values(BRIDGE_PROBLEMS),
      ...Object.values(HELPER_PROBLEMS),
      ...(Object.keys(PAGE_CONDITIONS) as ProblemId[]),
      'relay-unreachable',
      'unexpected',
    ]);
    expect(PROBLEM_IDS.filter((id) => !reached.has(id))).toEqual([]);
  });

  it('renders every by-source variant with its own title and cause', () => {
    for (const id of PROBLEM_IDS) {
      for (const [kind, variant] of Object.entries(PROBLEMS[id].bySource ?? {})) {
        const e = renderProblem({ id, kind: kind as SourceKind, reference: 'R', params: {} });
        expect(e.title, `${id}/${kind}`).toBe(variant.title ?? PROBLEMS[id].title);
        expect(e.cause).not.toMatch(/\{\{/);
      }
    }
  });

  it('declares a default for every placeholder it uses, and no unused default', () => {
    for (const id of PROBLEM_IDS) {
      const entry = PROBLEMS[id];
      const texts = [entry.cause, ...entry.fixes.flatMap((f) => [f.text, f.command ?? ''])];
      const used = new Set(
        texts.flatMap((t) => [...t.matchAll(/\{\{(\w+)\}\}/g)].map((m) => m[1])),
      );
      const defaults: Readonly<Record<string, string>> = 'defaults' in entry ? entry.defaults : {};
      expect([...used].sort(), id).toEqual(Object.keys(defaults).sort());
    }
  });

  it('gives the command line its own wording wherever a reachable problem has page-only steps', () => {
    for (const id of cliReachable) {
      const fixes = PROBLEMS[id].fixes;
      if (fixes.some((f) => f.client === 'page'))
        expect(
          fixes.some((f) => f.client === 'cli'),
          id,
        ).toBe(true);
    }
  });
});
