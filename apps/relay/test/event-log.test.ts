/**
 * The log lines main.ts writes for server events and for the SIGHUP TLS reload
 * (src/ops/event-log.ts), and that they reach the JSON log at the right level.
 */
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import type { RelayConfig } from '../src/config.ts';
import { serverEventLogLine, tlsReloadLogLine, writeLogLine } from '../src/ops/event-log.ts';
import { createLogger } from '../src/ops/logger.ts';
import type { ServerEvent } from '../src/server.ts';

/** A relay logger whose JSON lines are collected. */
function collectingLogger(): { logger: ReturnType<typeof createLogger>; lines: () => unknown[] } {
  const chunks: string[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _enc, done) {
      chunks.push(chunk.toString());
      done();
    },
  });
  const logger = createLogger({ destination });
  const lines = () =>
    chunks
      .join('')
      .split('\n')
      .filter((l) => l !== '')
      .map((l) => JSON.parse(l) as unknown);
  return { logger, lines };
}

describe('serverEventLogLine', () => {
  it('logs an operator API refusal at warn with the remote address and the reason', () => {
    const e: ServerEvent = {
      kind: 'operator-refused',
      remote: '127.0.0.1:4711',
      reason: 'no client certificate',
    };
    expect(serverEventLogLine(e)).toEqual({
      level: 'warn',
      fields: {
        event: 'operator-refused',
        remote: '127.0.0.1:4711',
        reason: 'no client certificate',
      },
      message: 'operator API connection refused',
    });
  });

  it('logs dial-in VMs, server errors, resumes, notices and problems', () => {
    const dialIn = (event: Extract<ServerEvent, { kind: 'dial-in' }>['event']) =>
      serverEventLogLine({ kind: 'dial-in', target: 'vm-a', event });
    expect(dialIn({ kind: 'vm-refused', remote: 'r', reason: 'busy' })).toEqual({
      level: 'warn',
      fields: { event: 'dial-in-vm-refused', target: 'vm-a', remote: 'r', reason: 'busy' },
      message: 'VM connection refused',
    });
    expect(dialIn({ kind: 'vm-connected', remote: 'r' })?.message).toBe('VM connected');
    expect(dialIn({ kind: 'error', message: 'boom' })).toMatchObject({
      level: 'error',
      message: 'boom',
    });
    expect(dialIn({ kind: 'parked-guest-command-answered' })).toBeUndefined();
    expect(serverEventLogLine({ kind: 'server-error', message: 'EADDRINUSE' })).toEqual({
      level: 'error',
      fields: { event: 'server-error' },
      message: 'EADDRINUSE',
    });
    const session = (event: Extract<ServerEvent, { kind: 'session-event' }>['event']) =>
      serverEventLogLine({ kind: 'session-event', sessionId: 7, event });
    expect(session({ kind: 'resumed' })).toEqual({
      level: 'info',
      fields: { event: 'resumed', sessionId: 7 },
      message: 'lending session resumed',
    });
    expect(
      session({
        kind: 'notice',
        notice: { code: 'nagle-suspected', message: 'adds 40 ms', fields: { delayMs: 40 } },
      }),
    ).toEqual({
      level: 'warn',
      fields: { event: 'nagle-suspected', sessionId: 7, delayMs: 40 },
      message: 'adds 40 ms',
    });
    expect(session({ kind: 'browser-error', message: 'x' })).toEqual({
      level: 'warn',
      fields: { event: 'browser-error', sessionId: 7 },
      message: 'session problem',
    });
    expect(session({ kind: 'cleanup', answered: 1 })).toBeUndefined();
    expect(session({ kind: 'backpressure', side: 'vm', isPaused: true })).toBeUndefined();
  });

  it('leaves audit events to the audit log', () => {
    expect(
      serverEventLogLine({ kind: 'session-start', sessionId: 1, target: 't', remote: 'r' }),
    ).toBeUndefined();
    expect(
      serverEventLogLine({ kind: 'upgrade-refused', status: 403, reason: 'origin', remote: 'r' }),
    ).toBeUndefined();
  });
});

describe('tlsReloadLogLine', () => {
  const tls = { certFile: '/c', keyFile: '/k' };
  const vmTls = {
    listen: { host: '127.0.0.1', port: 0 },
    certFile: '/c',
    keyFile: '/k',
    caFile: '/a',
  };
  const operator = { listen: { host: '127.0.0.1', port: 0 }, secretFile: '/s' };
  type Reloadable = Pick<RelayConfig, 'tls' | 'vmTls' | 'operator'>;

  it.each<[string, Reloadable, string]>([
    ['nothing', { tls: undefined, vmTls: undefined }, 'no TLS configured'],
    ['plain operator API', { tls: undefined, vmTls: undefined, operator }, 'no TLS configured'],
    ['page listener', { tls, vmTls: undefined }, 'TLS reloaded (page listener)'],
    [
      'all three',
      { tls, vmTls, operator: { ...operator, tls: { ...tls, caFile: '/a' } } },
      'TLS reloaded (page listener, VM listener, operator API)',
    ],
    ['VM listener', { tls: undefined, vmTls }, 'TLS reloaded (VM listener)'],
  ])('%s', (_name, config, message) => {
    expect(tlsReloadLogLine(config)).toEqual({
      level: 'info',
      fields: { event: 'tls-reload' },
      message,
    });
  });

  it('logs a failed reload at error with its message', () => {
    expect(tlsReloadLogLine({ tls, vmTls }, new Error('ENOENT: /c'))).toEqual({
      level: 'error',
      fields: { event: 'tls-reload' },
      message: 'ENOENT: /c',
    });
  });
});

describe('writeLogLine', () => {
  it('writes the line at its level to the JSON log, and nothing for undefined', () => {
    const { logger, lines } = collectingLogger();
    writeLogLine(logger, undefined);
    writeLogLine(
      logger,
      serverEventLogLine({ kind: 'operator-refused', remote: '[::1]:9', reason: 'bad cert' }),
    );
    writeLogLine(logger, tlsReloadLogLine({ tls: undefined, vmTls: undefined }));
    logger.flush();
    expect(lines()).toEqual([
      expect.objectContaining({
        level: 40,
        event: 'operator-refused',
        remote: '[::1]:9',
        reason: 'bad cert',
        msg: 'operator API connection refused',
      }),
      expect.objectContaining({ level: 30, event: 'tls-reload', msg: 'no TLS configured' }),
    ]);
  });
});
