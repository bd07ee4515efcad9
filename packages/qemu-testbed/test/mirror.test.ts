import { describe, expect, it } from 'vitest';
import { mirrorFromDeb822, mirrorFromOneLine } from '../src/qemu10.ts';

describe('finding the Debian archive the machine uses', () => {
  it('reads deb822 .sources', () => {
    const text = [
      'Types: deb',
      '# http://snapshot.debian.org/archive/debian/20250520T000000Z',
      'URIs: http://deb.example.org/debian/',
      'Suites: bookworm bookworm-updates',
      'Components: main',
      '',
      'Types: deb',
      'URIs: http://deb.example.org/debian-security',
      'Suites: bookworm-security',
    ].join('\n');
    expect(mirrorFromDeb822(text)).toBe('http://deb.example.org/debian');
  });

  it('skips stanzas without bookworm and deb-src', () => {
    expect(
      mirrorFromDeb822('Types: deb-src\nURIs: http://a/debian\nSuites: bookworm\n'),
    ).toBeUndefined();
    expect(
      mirrorFromDeb822(
        'Types: deb\nURIs: https://deb.nodesource.com/node_20.x\nSuites: nodistro\n',
      ),
    ).toBeUndefined();
  });

  it('reads one-line .list entries', () => {
    expect(
      mirrorFromOneLine(
        '# deb http://x/debian bookworm main\ndeb [arch=amd64] http://m/debian bookworm main\n',
      ),
    ).toBe('http://m/debian');
    expect(
      mirrorFromOneLine('deb https://packages.cloud.google.com/apt cloud-sdk-bookworm main'),
    ).toBeUndefined();
  });
});
