#!/usr/bin/env node
/**
 * Size report: source files over a line budget and functions (declarations, methods, accessors,
 * constructors, function expressions, arrow functions) over a line budget, found with the
 * TypeScript compiler's parser. Tests (test/, tests/, test-support/, e2e/, *.test.*, *.spec.*) are
 * left out; benches are listed in their own section and never fail the run.
 *
 *   node scripts/size-report.mjs [--strict] [--json] [--max-file N] [--max-function N] [path ...]
 *
 * Paths (files or folders, relative to the current folder) narrow the report. Without
 * `--strict` the exit status is 0 whatever is found; with it, any source finding exits 1.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, extname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import ts from 'typescript';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const EXTENSIONS = new Set(['.ts', '.mts', '.cts', '.tsx', '.js', '.mjs', '.cjs', '.svelte']);
const SKIPPED_DIRS = new Set([
  'node_modules',
  'dist',
  '.cache',
  '.git',
  'coverage',
  'test-results',
  'playwright-report',
  '.svelte-kit',
]);

/** 'test' | 'bench' | 'source' for a path relative to the root (forward slashes). */
export function categoryOf(path) {
  const parts = path.split('/');
  const base = parts.at(-1) ?? '';
  if (/\.(test|spec)\.[cm]?[jt]sx?$/.test(base) || /\.d\.ts$/.test(base)) return 'test';
  if (parts.some((p) => p === 'test' || p === 'tests' || p === 'test-support' || p === '__tests__'))
    return 'test';
  if (parts[0] === 'e2e') return 'test';
  if (parts.includes('bench')) return 'bench';
  return 'source';
}

function* walk(dir) {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (entry.isDirectory()) {
      if (!SKIPPED_DIRS.has(entry.name)) yield* walk(join(dir, entry.name));
    } else if (entry.isFile() && EXTENSIONS.has(extname(entry.name))) {
      yield join(dir, entry.name);
    }
  }
}

function lineCount(text) {
  if (text.length === 0) return 0;
  const lines = text.split('\n').length;
  return text.endsWith('\n') ? lines - 1 : lines;
}

const SCRIPT_KIND = {
  '.ts': ts.ScriptKind.TS,
  '.mts': ts.ScriptKind.TS,
  '.cts': ts.ScriptKind.TS,
  '.tsx': ts.ScriptKind.TSX,
  '.js': ts.ScriptKind.JS,
  '.mjs': ts.ScriptKind.JS,
  '.cjs': ts.ScriptKind.JS,
};

/** The code blocks of a file with the line each starts on (Svelte: its <script> elements). */
function codeBlocks(path, text) {
  if (extname(path) !== '.svelte') {
    return [{ code: text, firstLine: 1, kind: SCRIPT_KIND[extname(path)] ?? ts.ScriptKind.TS }];
  }
  const blocks = [];
  const re = /<script\b[^>]*>([\s\S]*?)<\/script>/g;
  for (let m = re.exec(text); m; m = re.exec(text)) {
    const start = m.index + m[0].indexOf('>') + 1;
    blocks.push({
      code: m[1] ?? '',
      firstLine: lineCount(text.slice(0, start)) + (text.slice(0, start).endsWith('\n') ? 1 : 0),
      kind: ts.ScriptKind.TS,
    });
  }
  return blocks;
}

function propertyNameText(name, sf) {
  if (!name) return undefined;
  if (ts.isIdentifier(name) || ts.isPrivateIdentifier(name)) return name.text;
  if (ts.isStringLiteral(name) || ts.isNumericLiteral(name)) return name.text;
  return name.getText(sf);
}

/** A readable name for a function-like node: `Class.method`, `name`, `callee callback`. */
function functionName(node, sf) {
  let own;
  if (ts.isConstructorDeclaration(node)) own = 'constructor';
  else if (node.name) own = propertyNameText(node.name, sf);
  if (ts.isGetAccessorDeclaration(node)) own = `get ${own}`;
  if (ts.isSetAccessorDeclaration(node)) own = `set ${own}`;
  const parent = node.parent;
  if (!own && parent) {
    if (ts.isVariableDeclaration(parent) || ts.isPropertyAssignment(parent))
      own = propertyNameText(parent.name, sf);
    else if (ts.isPropertyDeclaration(parent)) own = propertyNameText(parent.name, sf);
    else if (ts.isExportAssignment(parent)) own = 'default export';
    else if (ts.isCallExpression(parent) || ts.isNewExpression(parent)) {
      const callee = parent.expression.getText(sf).replace(/\s+/g, '');
      own = `${callee.length > 40 ? `${callee.slice(0, 37)}...` : callee}(…) callback`;
    }
  }
  own ??= '<anonymous>';
  for (let p = node.parent; p; p = p.parent) {
    if ((ts.isClassDeclaration(p) || ts.isClassExpression(p)) && ts.isClassElement(node)) {
      return `${p.name?.text ?? '<class>'}.${own}`;
    }
    if (ts.isClassElement(node)) break;
  }
  return own;
}

function isFunctionLike(node) {
  return (
    ts.isFunctionDeclaration(node) ||
    ts.isFunctionExpression(node) ||
    ts.isArrowFunction(node) ||
    ts.isMethodDeclaration(node) ||
    ts.isConstructorDeclaration(node) ||
    ts.isGetAccessorDeclaration(node) ||
    ts.isSetAccessorDeclaration(node)
  );
}

/** Every function-like node with a body: name, first line, length in lines (comments excluded). */
export function functionsOf(path, text) {
  const found = [];
  for (const block of codeBlocks(path, text)) {
    const sf = ts.createSourceFile(path, block.code, ts.ScriptTarget.Latest, true, block.kind);
    const visit = (node) => {
      if (isFunctionLike(node) && node.body) {
        const start = sf.getLineAndCharacterOfPosition(node.getStart(sf)).line;
        const end = sf.getLineAndCharacterOfPosition(node.getEnd()).line;
        found.push({
          name: functionName(node, sf),
          line: block.firstLine + start,
          lines: end - start + 1,
        });
      }
      ts.forEachChild(node, visit);
    };
    visit(sf);
  }
  return found;
}

/** Collects the findings for the files under `paths` (all of the repository by default). */
export function sizeReport({ paths = [], maxFile = 400, maxFunction = 80 } = {}) {
  const roots = paths.length > 0 ? paths.map((p) => resolve(p)) : [ROOT];
  const files = new Set();
  for (const r of roots) {
    if (statSync(r).isDirectory()) for (const f of walk(r)) files.add(f);
    else files.add(r);
  }
  const report = { maxFile, maxFunction, files: [], functions: [] };
  for (const abs of [...files].sort()) {
    const path = relative(ROOT, abs).split(sep).join('/');
    const category = categoryOf(path);
    if (category === 'test') continue;
    const text = readFileSync(abs, 'utf8');
    const lines = lineCount(text);
    if (lines > maxFile) report.files.push({ path, category, lines });
    for (const fn of functionsOf(path, text)) {
      if (fn.lines > maxFunction) report.functions.push({ path, category, ...fn });
    }
  }
  return report;
}

function printText(report) {
  const out = [];
  for (const category of ['source', 'bench']) {
    const files = report.files.filter((f) => f.category === category);
    const fns = report.functions.filter((f) => f.category === category);
    const label = category === 'bench' ? ' (benches, not enforced)' : '';
    out.push(`Files over ${report.maxFile} lines${label}: ${files.length}`);
    for (const f of files) out.push(`  ${f.path}  ${f.lines} lines`);
    out.push(`Functions over ${report.maxFunction} lines${label}: ${fns.length}`);
    for (const f of fns) out.push(`  ${f.path}:${f.name}:${f.lines} (line ${f.line})`);
    out.push('');
  }
  process.stdout.write(`${out.join('\n')}`);
}

function main() {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      strict: { type: 'boolean', default: false },
      json: { type: 'boolean', default: false },
      'max-file': { type: 'string', default: '400' },
      'max-function': { type: 'string', default: '80' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    process.stdout.write(
      'usage: node scripts/size-report.mjs [--strict] [--json] [--max-file N] [--max-function N] [path ...]\n',
    );
    return 0;
  }
  const maxFile = Number(values['max-file']);
  const maxFunction = Number(values['max-function']);
  if (
    !Number.isInteger(maxFile) ||
    !Number.isInteger(maxFunction) ||
    maxFile < 1 ||
    maxFunction < 1
  ) {
    process.stderr.write('size-report: --max-file and --max-function take positive integers\n');
    return 2;
  }
  const report = sizeReport({ paths: positionals, maxFile, maxFunction });
  if (values.json) process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
  else printText(report);
  const violations =
    report.files.filter((f) => f.category === 'source').length +
    report.functions.filter((f) => f.category === 'source').length;
  return values.strict && violations > 0 ? 1 : 0;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  try {
    process.exitCode = main();
  } catch (e) {
    process.stderr.write(`size-report: ${e instanceof Error ? e.message : String(e)}\n`);
    process.exitCode = 2;
  }
}
