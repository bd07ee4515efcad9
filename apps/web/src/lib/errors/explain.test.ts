import { BRIDGE_ERRORS, BridgeError, type BridgeErrorCode } from '@cardlend/bridge';
import { BRIDGE_PROBLEMS, type Failure as SourceFailure } from '@cardlend/problems';
import { RelayClose } from '@cardlend/vscard';
import { describe, expect, expectTypeOf, it } from 'vitest';
import {
  classifyError,
  detectOs,
  explainFailure,
  failureFromLinkError,
  type Failure,
} from './explain.ts';

const allFailures: Failure[] = [
  { kind: 'no-webusb', isSecureContext: true },
  { kind: 'no-webusb', isSecureContext: false },
  { kind: 'usb-not-allowed' },
  { kind: 'chooser-cancelled' },
  ...[
    'CCID_PROTECTED_CLASS',
    'CCID_DEVICE_BUSY',
    'CCID_NOT_CCID',
    'CCID_TIMEOUT',
    'CCID_CARD_MUTE',
    'CCID_CARD_ABSENT',
    'CCID_READER_GONE',
    'CCID_BUSY',
    'CCID_BAD_SEQUENCE',
    'CCID_PROTOCOL',
    'CCID_HARDWARE_ERROR',
    'CCID_BAD_DESCRIPTOR',
    'CCID_UNSUPPORTED',
    'CCID_BAD_ATR',
    'CCID_TRANSFER_FAILED',
  ].map((code): Failure => ({ kind: 'reader', code })),
  ...[...Object.values(RelayClose), 1006, 4999].map((closeCode): Failure => ({
    kind: 'relay-closed',
    closeCode,
  })),
  { kind: 'relay-unreachable' },
  { kind: 'atr-refused' },
  { kind: 'vm-not-answering' },
  { kind: 'no-websocket' },
  { kind: 'relay-url-invalid', reason: 'The relay address has no host name.' },
  { kind: 'token-invalid', reason: 'bad token' },
  { kind: 'unexpected' },
];

describe('explainFailure', () => {
  it.each(allFailures.map((f) => [JSON.stringify(f), f] as const))(
    '%s has a title, a cause and at least one fix',
    (_, f) => {
      const e = explainFailure(f);
      expect(e.title.length).toBeGreaterThan(5);
      expect(e.cause.length).toBeGreaterThan(5);
      expect(e.fixes.length).toBeGreaterThan(0);
      expect(e.reference.length).toBeGreaterThan(0);
      for (const fix of e.fixes) expect(fix.text.length).toBeGreaterThan(5);
    },
  );

  it('explains the browser block of class-0x0B readers with the options', () => {
    const e = explainFailure({ kind: 'reader', code: 'CCID_PROTECTED_CLASS' });
    expect(e.id).toBe('protected-class');
    expect(e.cause).toContain('0x0B');
    const fixes = e.fixes.map((f) => f.text).join('\n');
    expect(fixes).toMatch(/vendor-specific.*0xFF/);
    expect(fixes).toMatch(/Isolated Web App/);
    expect(fixes).toMatch(/Try a virtual card/);
  });

  it('gives the command or step per OS for a busy reader, detected OS first', () => {
    const linux = explainFailure(
      { kind: 'reader', code: 'CCID_DEVICE_BUSY', vendorId: 0x04e6, productId: 0x5116 },
      'linux',
    );
    expect(linux.id).toBe('device-busy');
    expect(linux.fixes[0]?.command).toBe('sudo systemctl stop pcscd.socket pcscd.service');
    expect(linux.fixes[1]?.command).toContain('ATTRS{idVendor}=="04e6", ATTRS{idProduct}=="5116"');
    const win = explainFailure({ kind: 'reader', code: 'CCID_DEVICE_BUSY' }, 'windows');
    expect(win.fixes[0]?.os).toBe('windows');
    expect(win.fixes[0]?.text).toMatch(/Zadig.*List All Devices.*WinUSB.*Replace Driver/s);
    const mac = explainFailure({ kind: 'reader', code: 'CCID_DEVICE_BUSY' }, 'macos');
    expect(mac.fixes[0]?.command).toContain('com.apple.ifdreader');
    // Other systems' steps are kept apart, not dropped.
    expect(mac.fixes.map((f) => f.os)).toEqual(['macos', undefined]);
    expect(mac.otherSystemFixes.map((f) => f.os)).toEqual(['linux', 'linux', 'windows']);
    // Unknown OS: general steps first, then every system's.
    const unknown = explainFailure({ kind: 'reader', code: 'CCID_DEVICE_BUSY' });
    expect(unknown.fixes.map((f) => f.os)).toEqual([
      undefined,
      'linux',
      'linux',
      'windows',
      'macos',
    ]);
    expect(unknown.otherSystemFixes).toEqual([]);
  });

  it.each([
    [RelayClose.VM_IN_USE, 'vm-in-use'],
    [RelayClose.UNAUTHORIZED, 'token-refused'],
    [RelayClose.AUTH_TIMEOUT, 'token-refused'],
    [RelayClose.TOKEN_USED, 'token-used'],
    [RelayClose.VM_UNREACHABLE, 'vm-unreachable'],
    [1006, 'relay-unreachable'],
  ] as const)('maps relay close %i to what the person can do: %s', (closeCode, id) => {
    expect(explainFailure({ kind: 'relay-closed', closeCode }).id).toBe(id);
  });

  it('names an unknown relay close code as unexpected, with the code as reference', () => {
    const unknown = explainFailure({ kind: 'relay-closed', closeCode: 4999 });
    expect(unknown.id).toBe('unexpected');
    expect(unknown.reference).toBe('relay close 4999');
  });

  it('marks a closed chooser as information, not an error', () => {
    expect(explainFailure({ kind: 'chooser-cancelled' }).severity).toBe('info');
  });
});

describe('classifyError', () => {
  it('uses CcidError codes and keeps the device ids', () => {
    expect(
      classifyError({ code: 'CCID_DEVICE_BUSY', message: 'x' }, { vendorId: 1, productId: 2 }),
    ).toEqual({
      kind: 'ccid',
      code: 'CCID_DEVICE_BUSY',
      vendorId: 1,
      productId: 2,
    });
  });
  it('maps the chooser closing (NotFoundError) and policy blocks (SecurityError)', () => {
    expect(classifyError(new DOMException('No device selected.', 'NotFoundError'))).toEqual({
      kind: 'page',
      code: 'chooser-cancelled',
    });
    expect(classifyError(new DOMException('Access denied', 'SecurityError'))).toEqual({
      kind: 'page',
      code: 'usb-not-allowed',
    });
  });
  it('never passes message text through', () => {
    const f = classifyError(new Error('secret raw text'));
    expect(f).toEqual({ kind: 'unknown' });
    expect(JSON.stringify(explainFailure(f))).not.toContain('secret raw text');
    expect(classifyError('string')).toEqual({ kind: 'unknown' });
    expect(classifyError(null)).toEqual({ kind: 'unknown' });
    expect(classifyError({ code: 'OTHER_X' })).toEqual({ kind: 'unknown', code: 'OTHER_X' });
  });
});

describe('detectOs', () => {
  it.each([
    ['Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/131 Safari/537.36', 'linux'],
    ['Mozilla/5.0 (Windows NT 10.0; Win64; x64) Chrome/131', 'windows'],
    ['Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) Chrome/131', 'macos'],
    ['Mozilla/5.0 (X11; CrOS x86_64 14541.0.0) Chrome/131', 'chromeos'],
    ['curl/8', 'other'],
  ])('%s → %s', (ua, os) => {
    expect(detectOs(ua)).toBe(os);
  });
});

describe('failureFromLinkError', () => {
  it.each([
    ['BRIDGE_VM_IN_USE', 'vm-in-use'],
    ['BRIDGE_UNAUTHORIZED', 'token-refused'],
    ['BRIDGE_TOKEN_USED', 'token-used'],
    ['BRIDGE_RELAY_UNREACHABLE', 'relay-unreachable'],
    ['BRIDGE_ATR_REFUSED', 'atr-refused'],
    ['BRIDGE_CARD_MUTE', 'card-mute'],
    ['BRIDGE_CARD_ABSENT', 'card-absent'],
    ['BRIDGE_READER_GONE', 'reader-gone'],
    ['BRIDGE_READER_BUSY', 'device-busy'],
    ['BRIDGE_VM_NOT_ANSWERING', 'vm-not-answering'],
    ['BRIDGE_NO_WEBSOCKET', 'no-websocket'],
    ['CCID_PROTECTED_CLASS', 'protected-class'],
    ['BRIDGE_CARD_RESET', 'card-absent'],
    ['BRIDGE_READER_CLOSED', 'reader-gone'],
    ['BRIDGE_UNSUPPORTED', 'reader-unsupported'],
    ['BRIDGE_APDU_TOO_LONG', 'reader-unsupported'],
    ['SOMETHING_NEW', 'unexpected'],
    ['toString', 'unexpected'],
  ] as const)('%s → %s', (code, id) => {
    expect(explainFailure(failureFromLinkError(code)).id).toBe(id);
  });

  it('reads the close code a bridge error came with', () => {
    expect(explainFailure(failureFromLinkError('BRIDGE_RELAY_CLOSED', 4009)).id).toBe('vm-in-use');
  });

  it('explains every bridge error code with a title, a cause and a fix', () => {
    for (const code of Object.keys(BRIDGE_ERRORS)) {
      const explanation = explainFailure(failureFromLinkError(code));
      expect(explanation.title.length, code).toBeGreaterThan(0);
      expect(explanation.fixes.length, code).toBeGreaterThan(0);
    }
  });

  it('classifies a thrown bridge error by code', () => {
    expect(classifyError({ code: 'BRIDGE_TOKEN_USED', closeCode: 4002 })).toEqual({
      kind: 'relay-close',
      code: 4002,
    });
  });

  it('explains a thrown BridgeError by the source it kept', () => {
    const e = new BridgeError('BRIDGE_READER_BUSY', {
      source: { kind: 'pcsc', code: 'SCARD_E_SHARING_VIOLATION' },
    });
    expect(classifyError(e)).toEqual({ kind: 'pcsc', code: 'SCARD_E_SHARING_VIOLATION' });
    expect(explainFailure(classifyError(e))).toMatchObject({
      id: 'reader-in-use',
      reference: 'SCARD_E_SHARING_VIOLATION',
    });
    const closed = new BridgeError('BRIDGE_VM_IN_USE', { closeCode: RelayClose.VM_IN_USE });
    expect(explainFailure(classifyError(closed)).reference).toBe('relay close 4009');
  });

  it('prefers the source a bridge state carries', () => {
    const f = failureFromLinkError('BRIDGE_READER_TIMEOUT', undefined, {
      kind: 'ccid',
      code: 'CCID_TIMEOUT',
    });
    expect(explainFailure(f)).toMatchObject({ id: 'reader-error', reference: 'CCID_TIMEOUT' });
  });

  it("passes a BridgeError's source as it is (same shape as the catalog's failure)", () => {
    expectTypeOf<BridgeError['source']>().toExtend<SourceFailure>();
  });

  it('knows every bridge code (types and table)', () => {
    expectTypeOf<keyof typeof BRIDGE_PROBLEMS>().toEqualTypeOf<BridgeErrorCode>();
    expect(Object.keys(BRIDGE_PROBLEMS).sort()).toEqual(Object.keys(BRIDGE_ERRORS).sort());
  });
});
