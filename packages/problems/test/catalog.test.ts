import { describe, expect, it } from 'vitest';
import { BROWSER_PROBLEMS } from '../src/catalog/browser.ts';
import { READER_PROBLEMS } from '../src/catalog/reader.ts';
import { RELAY_PROBLEMS } from '../src/catalog/relay.ts';
import { TOKEN_PROBLEMS } from '../src/catalog/token.ts';
import {
  BRIDGE_PROBLEMS,
  CCID_PROBLEMS,
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

describe('the catalog', () => {
  it('has no id defined twice across its parts', () => {
    const parts = [BROWSER_PROBLEMS, READER_PROBLEMS, RELAY_PROBLEMS, TOKEN_PROBLEMS].map((p) =>
      Object.keys(p),
    );
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
      ...Object.values(PAGE_CONDITIONS).map((c) => c.problem),
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
