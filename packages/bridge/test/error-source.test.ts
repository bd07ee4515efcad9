import { CCID_ERROR_CATALOG, CcidError, type CcidErrorCode } from '@cardlend/ccid';
import { RelayClose, VscardError } from '@cardlend/vscard';
import { describe, expect, it } from 'vitest';
import { BRIDGE_ERRORS, BridgeError, bridgeErrorFromReader, classifyClose } from '../src/index.ts';

describe('a bridge error keeps its source code', () => {
  it.each(Object.keys(CCID_ERROR_CATALOG) as CcidErrorCode[])(
    'reader error %s → source ccid with the same code',
    (code) => {
      expect(bridgeErrorFromReader(new CcidError(code, 'x')).source).toEqual({
        kind: 'ccid',
        code,
      });
    },
  );

  it("keeps a PC/SC reader's own code (sourceCode) over its CCID code", () => {
    const pcsc = Object.assign(new Error('x'), {
      code: 'CCID_DEVICE_BUSY',
      sourceCode: 'SCARD_E_SHARING_VIOLATION',
    });
    const e = bridgeErrorFromReader(pcsc);
    expect(e.code).toBe('BRIDGE_READER_BUSY');
    expect(e.source).toEqual({ kind: 'pcsc', code: 'SCARD_E_SHARING_VIOLATION' });
  });

  it("an unknown reader failure is the bridge's own BRIDGE_UNKNOWN", () => {
    expect(bridgeErrorFromReader(new Error('x')).source).toEqual({
      kind: 'bridge',
      code: 'BRIDGE_UNKNOWN',
    });
  });

  it.each([...Object.values(RelayClose), 1006, 4999])(
    'relay close %s → source relay-close',
    (code) => {
      const c = classifyClose(code, true);
      const e = new BridgeError(c.code, { closeCode: code });
      expect(e.source).toEqual({ kind: 'relay-close', code });
    },
  );

  it('keeps an explicit source, e.g. a close with its reason', () => {
    const source = {
      kind: 'relay-close',
      code: 4001,
      reason: 'The session link has expired.',
    } as const;
    expect(new BridgeError('BRIDGE_UNAUTHORIZED', { closeCode: 4001, source }).source).toBe(source);
  });

  it('takes a VSCard error given as cause as the source', () => {
    const e = new BridgeError('BRIDGE_RELAY_PROTOCOL', {
      cause: new VscardError('VSCARD_TRUNCATED', 'x'),
    });
    expect(e.source).toEqual({ kind: 'vscard', code: 'VSCARD_TRUNCATED' });
  });

  it('is the bridge itself otherwise', () => {
    for (const code of Object.keys(BRIDGE_ERRORS) as (keyof typeof BRIDGE_ERRORS)[]) {
      expect(new BridgeError(code).source).toEqual({ kind: 'bridge', code });
    }
  });

  it('refuses a relay protocol violation for good (no reconnect)', () => {
    expect(classifyClose(RelayClose.PROTOCOL_VIOLATION, true)).toEqual({
      code: 'BRIDGE_BAD_FRAME',
      outcome: 'final',
    });
  });
});
