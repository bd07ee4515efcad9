import { CCID_ERROR_CATALOG, type CcidErrorCode } from '@cardlend/ccid';
import { RelayClose, type RelayCloseCode, type VscardErrorCode } from '@cardlend/vscard';
import { describe, expect, expectTypeOf, it } from 'vitest';
import {
  CCID_PROBLEMS,
  explain,
  matchFailure,
  PCSC_PROBLEMS,
  pcscCodeName,
  PROBLEMS,
  RELAY_CLOSE_PROBLEMS,
  VSCARD_PROBLEMS,
  type Failure,
  type ProblemId,
} from '../src/index.ts';

const isProblem = (id: string): boolean => Object.hasOwn(PROBLEMS, id);

describe('every source code maps to a problem (types and tables)', () => {
  it('covers exactly the CCID driver codes', () => {
    expectTypeOf<keyof typeof CCID_PROBLEMS>().toEqualTypeOf<CcidErrorCode>();
    expect(Object.keys(CCID_PROBLEMS).sort()).toEqual(Object.keys(CCID_ERROR_CATALOG).sort());
  });
  it('covers exactly the relay close codes', () => {
    expectTypeOf<keyof typeof RELAY_CLOSE_PROBLEMS>().toEqualTypeOf<RelayCloseCode>();
    expect(Object.keys(RELAY_CLOSE_PROBLEMS).map(Number).sort()).toEqual(
      Object.values(RelayClose).sort(),
    );
  });
  it('covers exactly the VSCard codes', () => {
    expectTypeOf<keyof typeof VSCARD_PROBLEMS>().toEqualTypeOf<VscardErrorCode>();
  });
  it('gives PC/SC codes distinct values in the SCARD range', () => {
    const values = Object.values(PCSC_PROBLEMS).map(([v]) => v);
    expect(new Set(values).size).toBe(values.length);
    for (const v of values) expect(v >>> 16).toBe(0x8010);
  });

  const rows: [string, Failure][] = [
    ...Object.keys(CCID_PROBLEMS).map((code): [string, Failure] => [code, { kind: 'ccid', code }]),
    ...Object.values(RelayClose).map((code): [string, Failure] => [
      `close ${code}`,
      { kind: 'relay-close', code },
    ]),
    ...Object.keys(VSCARD_PROBLEMS).map((code): [string, Failure] => [
      code,
      { kind: 'vscard', code },
    ]),
    ...Object.keys(PCSC_PROBLEMS).map((code): [string, Failure] => [code, { kind: 'pcsc', code }]),
  ];
  it.each(rows)('%s → a catalog problem, referenced by its own code', (_, failure) => {
    const m = matchFailure(failure);
    expect(isProblem(m.id)).toBe(true);
    const code = String(failure.kind === 'unknown' ? '' : failure.code);
    expect(m.reference).toContain(code);
  });
});

describe('PC/SC codes', () => {
  it.each([
    ['SCARD_E_NO_SERVICE', 'service-down'],
    ['SCARD_E_SERVICE_STOPPED', 'service-down'],
    ['SCARD_W_REMOVED_CARD', 'card-absent'],
    ['SCARD_W_RESET_CARD', 'card-reset'],
    ['SCARD_E_SHARING_VIOLATION', 'reader-in-use'],
    ['SCARD_E_UNKNOWN_READER', 'reader-not-found'],
    ['SCARD_E_NO_READERS_AVAILABLE', 'no-readers'],
    ['SCARD_E_READER_UNAVAILABLE', 'reader-gone'],
    ['SCARD_W_UNRESPONSIVE_CARD', 'card-mute'],
    ['SCARD_E_NO_ACCESS', 'service-refused'],
  ] as const)('%s → %s', (code, id: ProblemId) => {
    expect(explain({ kind: 'pcsc', code }).id).toBe(id);
    expect(explain({ kind: 'pcsc', code }).reference).toBe(code);
  });
  it('accepts the numeric value, unsigned or as a signed 32-bit LONG', () => {
    expect(pcscCodeName(0x8010001d)).toBe('SCARD_E_NO_SERVICE');
    expect(pcscCodeName(0x8010001d | 0)).toBe('SCARD_E_NO_SERVICE');
    expect(explain({ kind: 'pcsc', code: 0x80100069 }).reference).toBe('SCARD_W_REMOVED_CARD');
  });
  it('explains an unknown PC/SC code as a reader error and keeps it as the reference', () => {
    expect(pcscCodeName('SCARD_X_NEW')).toBeNull();
    expect(pcscCodeName('toString')).toBeNull();
    expect(explain({ kind: 'pcsc', code: 'SCARD_X_NEW' })).toMatchObject({
      id: 'reader-error',
      reference: 'SCARD_X_NEW',
    });
    expect(explain({ kind: 'pcsc', code: 0x80109999 }).reference).toBe('PC/SC 0x80109999');
  });
  it('tells Windows how to start its Smart Card service, Linux how to start pcscd', () => {
    const win = explain(
      { kind: 'pcsc', code: 'SCARD_E_NO_SERVICE' },
      { os: 'windows', client: 'cli' },
    );
    expect(win.fixes[0]).toMatchObject({ os: 'windows', command: 'sc start SCardSvr' });
    const linux = explain(
      { kind: 'pcsc', code: 'SCARD_E_NO_SERVICE' },
      { os: 'linux', client: 'cli' },
    );
    expect(linux.fixes[0]?.command).toBe('sudo systemctl start pcscd.socket');
  });
});

describe('codes from a newer version fall back per family', () => {
  it.each([
    [{ kind: 'ccid', code: 'CCID_NEW' }, 'reader-error', 'CCID_NEW'],
    [{ kind: 'vscard', code: 'VSCARD_NEW' }, 'relay-protocol', 'VSCARD_NEW'],
    [{ kind: 'bridge', code: 'BRIDGE_NEW' }, 'unexpected', 'BRIDGE_NEW'],
    [{ kind: 'ccid', code: 'toString' }, 'reader-error', 'toString'],
    [{ kind: 'relay-close', code: 1006 }, 'relay-unreachable', 'relay close 1006'],
    [{ kind: 'relay-close', code: 1015 }, 'relay-unreachable', 'relay close 1015'],
    [{ kind: 'relay-close', code: 4999 }, 'unexpected', 'relay close 4999'],
    [{ kind: 'unknown' }, 'unexpected', 'unexpected'],
  ] as const)('%j → %s', (failure: Failure, id, reference) => {
    expect(matchFailure(failure)).toMatchObject({ id, reference });
  });
});
