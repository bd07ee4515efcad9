/**
 * The test pcscd's log level: info by default (pcscd's debug level writes several lines per
 * PC/SC call into every test process), debug on request (`CARDLEND_PCSCD_LOG=debug` or
 * `logLevel`) for investigations. Real pcscd.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { listReaders } from '../src/index.ts';
import { PCSCD_LOG_ENV, pcscdLogLevel, startPcscd } from '../test-support/index.ts';
import type { Pcscd } from '../test-support/index.ts';

/** A line pcscd logs at debug level for every client command. */
const DEBUG_LINE = 'Received command: ESTABLISH_CONTEXT';

let pcscd: Pcscd | undefined;

afterEach(async () => {
  await pcscd?.stop();
  pcscd = undefined;
});

describe('pcscdLogLevel', () => {
  it.each([
    [{}, {}, 'info'],
    [{}, { [PCSCD_LOG_ENV]: 'debug' }, 'debug'],
    [{ logLevel: 'error' as const }, { [PCSCD_LOG_ENV]: 'debug' }, 'error'],
    [{}, { [PCSCD_LOG_ENV]: 'critical' }, 'critical'],
  ])('options %j, environment %j → %s', (opts, env, want) => {
    expect(pcscdLogLevel(opts, env)).toBe(want);
  });

  it('refuses an unknown level, naming the variable and the levels', () => {
    expect(() => pcscdLogLevel({}, { [PCSCD_LOG_ENV]: 'verbose' })).toThrow(
      /unknown pcscd log level "verbose" \(CARDLEND_PCSCD_LOG .*debug, info, error, critical\)/,
    );
  });
});

describe('the test pcscd', () => {
  it('logs at info level by default: no per-command debug lines', async () => {
    pcscd = await startPcscd({ logLevel: pcscdLogLevel({}, {}) });
    expect(pcscd.logLevel).toBe('info');
    expect(await listReaders()).toHaveLength(2); // PC/SC calls that debug level would log
    expect(pcscd.log()).toContain('debug level=info');
    expect(pcscd.log()).toContain('daemon ready');
    expect(pcscd.log()).not.toContain(DEBUG_LINE);
  });

  it('logs every command at debug level when asked', async () => {
    pcscd = await startPcscd({ logLevel: 'debug' });
    expect(await listReaders()).toHaveLength(2);
    expect(pcscd.log()).toContain('debug level=debug');
    expect(pcscd.log()).toContain(DEBUG_LINE);
  });
});
