import { RelayClose } from '@cardlend/vscard';
import { describe, expect, expectTypeOf, it } from 'vitest';
import {
  explain,
  failureFromCode,
  failureFromState,
  formatExplanation,
  osFamilyFromPlatform,
  osFamilyFromUserAgent,
  type Failure,
  type FailureKind,
  type SourceKind,
} from '../src/index.ts';

describe('explain', () => {
  it('fills the USB ids into the Linux udev rule, and placeholders without them', () => {
    const busy: Failure = {
      kind: 'ccid',
      code: 'CCID_DEVICE_BUSY',
      vendorId: 0x4e6,
      productId: 0x5116,
    };
    const linux = explain(busy, { os: 'linux' });
    expect(linux.fixes[1]?.command).toContain('ATTRS{idVendor}=="04e6", ATTRS{idProduct}=="5116"');
    const anon = explain({ kind: 'ccid', code: 'CCID_DEVICE_BUSY' }, { os: 'linux' });
    expect(anon.fixes[1]?.command).toContain('ATTRS{idVendor}=="<vendor id>"');
  });

  it('orders the detected OS first and folds the others; unknown OS lists all', () => {
    const f: Failure = { kind: 'pcsc', code: 'SCARD_E_NO_SERVICE' };
    const osOf = (fixes: readonly { os?: string }[]): (string | undefined)[] =>
      fixes.map((x) => x.os);
    const win = explain(f, { os: 'windows', client: 'cli' });
    expect([osOf(win.fixes), osOf(win.otherSystemFixes)]).toEqual([
      ['windows'],
      ['linux', 'macos'],
    ]);
    const chromeos = explain(f, { os: 'chromeos', client: 'cli' });
    expect([osOf(chromeos.fixes), osOf(chromeos.otherSystemFixes)]).toEqual([
      ['linux', 'windows', 'macos'],
      [],
    ]);
  });

  it('words steps for the client: page buttons for the page, commands for the CLI', () => {
    const page = explain({ kind: 'relay-close', code: RelayClose.VM_IN_USE });
    expect(page.fixes[0]?.text).toContain('"Stop lending"');
    const cli = explain({ kind: 'relay-close', code: RelayClose.VM_IN_USE }, { client: 'cli' });
    expect(cli.fixes[0]?.text).toContain('Ctrl-C');
    expect(cli.title).toBe(page.title);
    // WebUSB-only steps (Zadig) are not offered on the command line.
    const busy = explain(
      { kind: 'ccid', code: 'CCID_DEVICE_BUSY' },
      { client: 'cli', os: 'windows' },
    );
    expect(JSON.stringify(busy)).not.toContain('Zadig');
  });

  it("uses the page's own sentence as the cause of a form problem, never a relay reason", () => {
    const e = explain({
      kind: 'page',
      code: 'token-invalid',
      reason: 'The token has spaces.',
    });
    expect(e.cause).toBe('The token has spaces.');
    expect(explain({ kind: 'page', code: 'token-invalid' }).cause).toBe(
      'The session token could not be read.',
    );
    const closed = explain({ kind: 'relay-close', code: 4001, reason: 'raw relay words' });
    expect(JSON.stringify(closed)).not.toContain('raw relay words');
  });

  it.each([
    [{ kind: 'page', code: 'no-webusb' }, 'no-webusb', 'no WebUSB'],
    [{ kind: 'page', code: 'insecure-context' }, 'insecure-context', 'insecure context'],
    [{ kind: 'page', code: 'protected-class' }, 'protected-class', 'USB class 0x0B'],
    [{ kind: 'ccid', code: 'CCID_PROTECTED_CLASS' }, 'protected-class', 'CCID_PROTECTED_CLASS'],
    [{ kind: 'page', code: 'chooser-cancelled' }, 'chooser-cancelled', 'chooser closed'],
    [{ kind: 'bridge', code: 'BRIDGE_ATR_REFUSED' }, 'atr-refused', 'BRIDGE_ATR_REFUSED'],
    [
      { kind: 'bridge', code: 'BRIDGE_READER_REFUSED' },
      'vm-reader-refused',
      'BRIDGE_READER_REFUSED',
    ],
    [{ kind: 'vscard', code: 'VSCARD_TRUNCATED' }, 'relay-protocol', 'VSCARD_TRUNCATED'],
    [{ kind: 'unknown', code: 'OTHER_X' }, 'unexpected', 'OTHER_X'],
  ] as const)('%j → %s (reference %s)', (failure: Failure, id, reference) => {
    expect(explain(failure)).toMatchObject({ id, reference });
  });

  it('marks what the person did on purpose as information', () => {
    expect(explain({ kind: 'page', code: 'chooser-cancelled' }).severity).toBe('info');
    expect(explain({ kind: 'relay-close', code: RelayClose.NORMAL }).severity).toBe('info');
    expect(explain({ kind: 'relay-close', code: RelayClose.VM_IN_USE }).severity).toBe('error');
  });
});

describe('failureFromCode / failureFromState', () => {
  it.each([
    ['CCID_CARD_MUTE', { kind: 'ccid', code: 'CCID_CARD_MUTE' }],
    ['VSCARD_TRUNCATED', { kind: 'vscard', code: 'VSCARD_TRUNCATED' }],
    ['SCARD_E_NO_SERVICE', { kind: 'pcsc', code: 'SCARD_E_NO_SERVICE' }],
    ['BRIDGE_VM_IN_USE', { kind: 'bridge', code: 'BRIDGE_VM_IN_USE' }],
    ['BRIDGE_NOT_A_CODE', { kind: 'unknown', code: 'BRIDGE_NOT_A_CODE' }],
    ['toString', { kind: 'unknown', code: 'toString' }],
  ] as const)('%s → %j', (code, failure) => {
    expect(failureFromCode(code)).toEqual(failure);
  });

  it('prefers the source the error kept', () => {
    const source: Failure = { kind: 'ccid', code: 'CCID_TIMEOUT' };
    expect(failureFromState({ code: 'BRIDGE_READER_TIMEOUT', source }, 1006)).toBe(source);
  });

  it.each([
    // A bridge code that renames a relay close: the close code is the source.
    [{ code: 'BRIDGE_VM_IN_USE' }, 4009, { kind: 'relay-close', code: 4009 }],
    [{ code: 'BRIDGE_RELAY_CLOSED' }, 4009, { kind: 'relay-close', code: 4009 }],
    [{ code: 'RELAY_CLOSED' }, 4009, { kind: 'relay-close', code: 4009 }],
    [null, 4011, { kind: 'relay-close', code: 4011 }],
    // A normal close says nothing more than the code.
    [{ code: 'BRIDGE_RELAY_CLOSED' }, 1000, { kind: 'bridge', code: 'BRIDGE_RELAY_CLOSED' }],
    // A reader or card failure keeps its own code even when the link also closed.
    [{ code: 'BRIDGE_CARD_MUTE' }, 1006, { kind: 'bridge', code: 'BRIDGE_CARD_MUTE' }],
    [{ code: 'CCID_CARD_ABSENT' }, undefined, { kind: 'ccid', code: 'CCID_CARD_ABSENT' }],
    [null, undefined, { kind: 'unknown' }],
  ] as const)('%j with close %s → %j', (error, closeCode, failure) => {
    expect(failureFromState(error, closeCode)).toEqual(failure);
  });
});

describe('formatExplanation', () => {
  it('prints title, cause, numbered steps with commands, folded steps and the reference', () => {
    const text = formatExplanation(
      explain({ kind: 'pcsc', code: 'SCARD_E_NO_SERVICE' }, { os: 'linux', client: 'cli' }),
    );
    expect(text.split('\n')).toEqual([
      "The computer's smart card service is not running",
      expect.stringContaining('(PC/SC)'),
      '',
      'What you can do:',
      '  1. [Linux] Start the PC/SC service, then try again.',
      '       sudo systemctl start pcscd.socket',
      'Steps for other systems:',
      expect.stringMatching(/^ {2}2\. \[Windows\] /),
      '       sc start SCardSvr',
      expect.stringMatching(/^ {2}3\. \[macOS\] /),
      '',
      'Reference for your helpdesk: SCARD_E_NO_SERVICE',
    ]);
  });
});

describe('OS family', () => {
  it('reads the family from a user agent (Chromium on each desktop, ChromeOS, a phone)', () => {
    const ua = (platform: string): string =>
      `Mozilla/5.0 (${platform}) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/140.0 Safari/537.36`;
    expect(osFamilyFromUserAgent(ua('Windows NT 10.0; Win64; x64'))).toBe('windows');
    expect(osFamilyFromUserAgent(ua('Macintosh; Intel Mac OS X 10_15_7'))).toBe('macos');
    expect(osFamilyFromUserAgent(ua('X11; Linux x86_64'))).toBe('linux');
    expect(osFamilyFromUserAgent(ua('X11; CrOS x86_64 16002.44.0'))).toBe('chromeos');
    expect(osFamilyFromUserAgent(ua('Linux; Android 14; Pixel 8'))).toBe('linux');
    expect(osFamilyFromUserAgent('')).toBe('other');
  });
  it("reads the family from Node's process.platform", () => {
    const families = ['linux', 'win32', 'darwin', 'freebsd', 'aix'].map(osFamilyFromPlatform);
    expect(families).toEqual(['linux', 'windows', 'macos', 'other', 'other']);
  });
});

describe('token troubles a client tells apart (the relay closes all with 4001)', () => {
  it.each([
    ['token-missing', 'This relay needs a session link'],
    ['token-malformed', 'This link is damaged'],
    ['token-expired', 'This link has expired'],
    ['token-forged', 'This link is not valid for this relay'],
  ] as const)('%s: %s, referenced with the close code it explains', (code, title) => {
    const e = explain({ kind: 'page', code, closeCode: 4001 });
    expect(e).toMatchObject({
      id: code,
      title,
      reference: `relay close 4001 · ${code.replace('-', ' ')}`,
    });
    expect(explain({ kind: 'page', code }).reference).toBe(code.replace('-', ' '));
  });
  it("says when the link expired, in the client's clock text", () => {
    expect(explain({ kind: 'page', code: 'token-expired', expiredAt: '14:05' }).cause).toBe(
      'Session links work for a limited time, and this one stopped working at 14:05.',
    );
  });
  it('says that nothing is lent when the relay address is not valid', () => {
    const e = explain({
      kind: 'page',
      code: 'relay-url-invalid',
      reason: 'The relay address has no host name.',
    });
    expect(e.cause).toBe(
      'The relay address has no host name. Nothing is lent until the address is right.',
    );
  });
});

describe('words by source', () => {
  it('names the relay when a close code nobody knows ends the session', () => {
    const e = explain({ kind: 'relay-close', code: 4999 });
    expect(e).toMatchObject({
      id: 'unexpected',
      title: 'The connection to the relay ended',
      cause: 'The relay closed the connection without saying why.',
      reference: 'relay close 4999',
    });
    expect(explain({ kind: 'unknown' }).title).toBe('Something went wrong');
  });
  it('has source variants only for kinds a failure can have', () => {
    expectTypeOf<FailureKind>().toEqualTypeOf<SourceKind>();
  });
});
