/** The operator README keeps up with `--help`, the stderr banner and the config-file keys. */
import { readFileSync } from 'node:fs';
import { expect, it } from 'vitest';
import { relayBanner } from '../src/banner.ts';
import { defaultConfig, HELP_TEXT, parseArgs } from '../src/config.ts';

const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');

it('documents every flag that --help prints', () => {
  const options = HELP_TEXT.slice(HELP_TEXT.indexOf('Options:'), HELP_TEXT.indexOf('Start QEMU'));
  // Flags start a line (after the indent) or follow another flag's value (--cert FILE --key FILE).
  const flags = [...new Set(options.match(/(?<=^ {2}|, |FILE )--?[a-z][a-z-]*/gm) ?? [])];
  expect(flags).toEqual(
    expect.arrayContaining(['--listen', '--allow-anonymous', '--key', '--config', '-h', '--help']),
  );
  const missing = flags.filter((f) => !readme.includes('`' + f));
  expect(missing).toEqual([]);
});

it('documents the stderr banner main.ts prints', () => {
  const banner = relayBanner(defaultConfig(), {
    url: 'http://127.0.0.1:8080/',
    dialInPorts: new Map(),
    vmTlsAddress: undefined,
  });
  for (const line of ['cardlend relay listening.', 'Open in Chrome:', 'VM target:'])
    expect(banner).toContain(line);
  expect(readme).toMatch(/banner on \*\*stderr\*\*/);
  for (const line of [
    'cardlend relay listening.',
    'Open in Chrome:',
    'VM target:',
    'Start the VM (QEMU) with these options:',
    '-device ccid-card-passthru,chardev=vscard',
  ])
    expect(readme).toContain(line);
});

it('documents every config-file key (the parser names them all on an unknown key)', () => {
  let message = '';
  try {
    parseArgs(['--config', '/c.json'], { cwd: '/', readFile: () => '{"nope": 1}' });
  } catch (e) {
    message = (e as Error).message;
  }
  const keys = /\(allowed: ([^)]*)\)/.exec(message)?.[1]?.split(', ') ?? [];
  expect(keys.length).toBeGreaterThan(10);
  const missing = keys.filter((k) => !readme.includes(`"${k}"`) && !readme.includes('`' + k));
  expect(missing).toEqual([]);
});
