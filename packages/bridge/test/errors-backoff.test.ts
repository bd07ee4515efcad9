import type { CcidErrorCode } from '@cardlend/ccid';
import { CCID_ERROR_CATALOG, CcidError } from '@cardlend/ccid';
import { RelayClose } from '@cardlend/vscard';
import { describe, expect, expectTypeOf, it } from 'vitest';
import { backoffDelayMs, resolveReconnectPolicy } from '../src/backoff.ts';
import type { BridgeErrorCode } from '../src/errors.ts';
import {
  BRIDGE_ERRORS,
  BridgeError,
  bridgeErrorFromReader,
  CCID_TO_BRIDGE,
  classifyClose,
  isBridgeError,
  isReaderLost,
} from '../src/errors.ts';

describe('backoff', () => {
  const policy = resolveReconnectPolicy({ initialDelayMs: 100, maxDelayMs: 1000 });

  it('doubles from the initial delay up to the ceiling', () => {
    expect([1, 2, 3, 4, 5, 6].map((n) => backoffDelayMs(n, policy, 0.999999))).toEqual([
      100, 200, 400, 800, 1000, 1000,
    ]);
  });

  it('jitters within [delay/2, delay]', () => {
    expect(backoffDelayMs(3, policy, 0)).toBe(200);
    expect(backoffDelayMs(3, policy, 0.5)).toBe(300);
    for (let i = 0; i < 50; i++) {
      const d = backoffDelayMs(4, policy, Math.random());
      expect(d).toBeGreaterThanOrEqual(400);
      expect(d).toBeLessThanOrEqual(800);
    }
  });

  it('survives huge attempt numbers', () => {
    expect(backoffDelayMs(10_000, policy, 1)).toBe(1000);
  });

  it('rejects nonsense settings', () => {
    expect(() => resolveReconnectPolicy({ initialDelayMs: 0 })).toThrow(RangeError);
    expect(() => resolveReconnectPolicy({ initialDelayMs: 10, maxDelayMs: 5 })).toThrow(RangeError);
    expect(() => resolveReconnectPolicy({ maxAttempts: -1 })).toThrow(RangeError);
    expect(resolveReconnectPolicy({ maxAttempts: Infinity }).maxAttempts).toBe(Infinity);
    expect(() => backoffDelayMs(0, policy, 0)).toThrow(RangeError);
  });
});

describe('classifyClose', () => {
  it('never reconnects after a refusal', () => {
    expect(classifyClose(RelayClose.VM_IN_USE, true)).toEqual({
      code: 'BRIDGE_VM_IN_USE',
      outcome: 'refused',
    });
    expect(classifyClose(RelayClose.UNAUTHORIZED, true)).toEqual({
      code: 'BRIDGE_UNAUTHORIZED',
      outcome: 'refused',
    });
    expect(classifyClose(RelayClose.TOKEN_USED, true)).toEqual({
      code: 'BRIDGE_TOKEN_USED',
      outcome: 'refused',
    });
    expect(classifyClose(RelayClose.ORIGIN_REFUSED, true).outcome).toBe('refused');
    expect(classifyClose(RelayClose.BAD_FRAME, true)).toEqual({
      code: 'BRIDGE_BAD_FRAME',
      outcome: 'final',
    });
    expect(classifyClose(RelayClose.MESSAGE_TOO_BIG, true).outcome).toBe('final');
    expect(classifyClose(RelayClose.VM_PROTOCOL, true).outcome).toBe('final');
    expect(classifyClose(RelayClose.NORMAL, true).outcome).toBe('final');
    // The helpdesk ended the session on purpose: an orderly end, never retried.
    expect(classifyClose(RelayClose.ENDED_BY_OPERATOR, true)).toEqual({
      code: 'BRIDGE_RELAY_CLOSED',
      outcome: 'final',
    });
    // A refused resume ticket: the lending machine decides what follows (resume.ts).
    for (const code of [
      RelayClose.RESUME_EXPIRED,
      RelayClose.RESUME_USED,
      RelayClose.RESUME_UNKNOWN,
    ]) {
      expect(classifyClose(code, true)).toEqual({
        code: 'BRIDGE_RESUME_REFUSED',
        outcome: 'refused',
      });
    }
  });

  it('reconnects after drops and VM-side closes', () => {
    expect(classifyClose(1006, true)).toEqual({
      code: 'BRIDGE_CONNECTION_LOST',
      outcome: 'reconnect',
    });
    expect(classifyClose(1006, false)).toEqual({
      code: 'BRIDGE_RELAY_UNREACHABLE',
      outcome: 'reconnect',
    });
    expect(classifyClose(RelayClose.GOING_AWAY, true).outcome).toBe('reconnect');
    expect(classifyClose(RelayClose.VM_CLOSED, true).outcome).toBe('reconnect');
    expect(classifyClose(RelayClose.VM_UNREACHABLE, true).outcome).toBe('reconnect');
    expect(classifyClose(RelayClose.RATE_LIMITED, true).outcome).toBe('reconnect');
    expect(classifyClose(RelayClose.CLUSTER_UNAVAILABLE, true).outcome).toBe('reconnect');
  });

  it('maps every relay close code to a catalogued error', () => {
    for (const code of Object.values(RelayClose)) {
      expect(BRIDGE_ERRORS[classifyClose(code, true).code].length).toBeGreaterThan(0);
    }
  });
});

describe('BridgeError', () => {
  it('maps CCID codes structurally and keeps the cause', () => {
    const ccid = Object.assign(new Error('mute'), { code: 'CCID_CARD_MUTE' });
    const e = bridgeErrorFromReader(ccid);
    expect(e.code).toBe('BRIDGE_CARD_MUTE');
    expect(e.cause).toBe(ccid);
    expect(
      bridgeErrorFromReader(Object.assign(new Error(), { code: 'CCID_READER_GONE' })).code,
    ).toBe('BRIDGE_READER_GONE');
    expect(
      bridgeErrorFromReader(Object.assign(new Error(), { code: 'CCID_DEVICE_BUSY' })).code,
    ).toBe('BRIDGE_READER_BUSY');
    expect(bridgeErrorFromReader('weird').code).toBe('BRIDGE_UNKNOWN');
  });

  it('maps every CCID driver code to a catalogued bridge code (never BRIDGE_UNKNOWN)', () => {
    const codes = Object.keys(CCID_ERROR_CATALOG) as CcidErrorCode[];
    expect(codes.length).toBeGreaterThanOrEqual(22);
    for (const c of codes) {
      const e = bridgeErrorFromReader(new CcidError(c, 'x'));
      expect(e.code, c).not.toBe('BRIDGE_UNKNOWN');
      expect(BRIDGE_ERRORS[e.code].length).toBeGreaterThan(0);
      expect(e.code).toBe(CCID_TO_BRIDGE[c]);
    }
  });

  it('maps the codes found in integration sensibly', () => {
    const map = (c: CcidErrorCode): string => bridgeErrorFromReader(new CcidError(c, 'x')).code;
    expect(map('CCID_NOT_POWERED')).toBe('BRIDGE_CARD_RESET');
    expect(map('CCID_APDU_TOO_LONG')).toBe('BRIDGE_APDU_TOO_LONG');
    expect(map('CCID_ABORTED')).toBe('BRIDGE_CANCELLED');
    expect(map('CCID_COMMAND_FAILED')).toBe('BRIDGE_CARD_PROTOCOL');
    expect(map('CCID_TRANSFER_FAILED')).toBe('BRIDGE_READER_ERROR');
    expect(map('CCID_CLOSED')).toBe('BRIDGE_READER_CLOSED');
    expect(map('CCID_BAD_MESSAGE')).toBe('BRIDGE_CARD_PROTOCOL');
    expect(map('CCID_BAD_ATR')).toBe('BRIDGE_CARD_PROTOCOL');
    expect(map('CCID_UNSUPPORTED')).toBe('BRIDGE_UNSUPPORTED');
    expect(map('CCID_PROTECTED_CLASS')).toBe('BRIDGE_UNSUPPORTED');
    expect(isReaderLost('BRIDGE_READER_CLOSED')).toBe(true);
    expect(isReaderLost('BRIDGE_READER_GONE')).toBe(true);
    expect(isReaderLost('BRIDGE_CARD_RESET')).toBe(false);
  });

  it('the mapping is exhaustive at the type level (checked by tsc)', () => {
    expectTypeOf<keyof typeof CCID_TO_BRIDGE>().toEqualTypeOf<CcidErrorCode>();
    expectTypeOf(CCID_TO_BRIDGE).toExtend<Readonly<Record<CcidErrorCode, BridgeErrorCode>>>();
    expect(Object.keys(CCID_TO_BRIDGE).sort()).toEqual(Object.keys(CCID_ERROR_CATALOG).sort());
  });

  it('is recognised by brand, and keeps catalog messages', () => {
    const e = new BridgeError('BRIDGE_VM_IN_USE', { closeCode: 4009 });
    expect(isBridgeError(e)).toBe(true);
    expect(isBridgeError(new Error('x'))).toBe(false);
    expect(isBridgeError({ code: 'BRIDGE_VM_IN_USE' })).toBe(false);
    expect(e.message).toBe(BRIDGE_ERRORS.BRIDGE_VM_IN_USE);
    expect(e.closeCode).toBe(4009);
    expect(bridgeErrorFromReader(e)).toBe(e);
  });
});
