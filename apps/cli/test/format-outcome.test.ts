import type { ApduLogEntry, BridgeState } from '@cardlend/bridge';
import { explain } from '@cardlend/problems';
import { describe, expect, it } from 'vitest';
import {
  clockTime,
  exportEntry,
  formatApduLine,
  formatReaderLines,
  formatReadersJson,
  formatStatus,
  jsonLine,
  stateEvent,
} from '../src/format.ts';
import { ExitCode, outcomeOf } from '../src/outcome.ts';
import type { ReaderSummary } from '../src/reader-choice.ts';

const hex = (s: string): Uint8Array => Uint8Array.from(Buffer.from(s, 'hex'));
const ATR = hex('3B951381018073FF01000B');
const COMPAT = hex('3B951381018073FF01000A');

describe('readers output', () => {
  const readers: ReaderSummary[] = [
    { name: 'Virtual PCD 00 00', state: 'present', atr: ATR },
    { name: 'Virtual PCD 00 01', state: 'empty', atr: null },
    { name: 'Long reader name 00 00', state: 'in-use', atr: hex('3B00') },
  ];
  it('one reader a line, aligned, with state and ATR', () => {
    expect(formatReaderLines(readers)).toBe(
      [
        'Virtual PCD 00 00       card  ATR 3B 95 13 81 01 80 73 FF 01 00 0B',
        'Virtual PCD 00 01       no card',
        'Long reader name 00 00  card, in use by another program  ATR 3B 00',
        '',
      ].join('\n'),
    );
    expect(formatReaderLines([])).toBe('No smart card reader found.\n');
  });
  it('JSON: one document', () => {
    expect(JSON.parse(formatReadersJson(readers))).toEqual({
      readers: [
        { name: 'Virtual PCD 00 00', state: 'present', atr: '3B951381018073FF01000B' },
        { name: 'Virtual PCD 00 01', state: 'empty', atr: null },
        { name: 'Long reader name 00 00', state: 'in-use', atr: '3B00' },
      ],
    });
  });
});

const card = (vmStatus: 'pending' | 'accepted' | 'refused', isT0Compat = true) => ({
  atr: ATR,
  protocol: 1 as const,
  presentedAtr: isT0Compat ? COMPAT : ATR,
  isT0Compat,
  predictedRefusal: null,
  vmStatus,
});
const state = (s: Partial<BridgeState> & Pick<BridgeState, 'link'>): BridgeState => ({
  card: null,
  error: null,
  ...s,
});

describe('status line', () => {
  it.each([
    [state({ link: 'connecting' }), 'Connecting to the VM through the relay…'],
    [state({ link: 'lent' }), 'Lent: the VM sees the reader; no card in it.'],
    [
      state({
        link: 'lent',
        error: {
          code: 'BRIDGE_READER_BUSY',
          message: 'The reader is busy or held by another program.',
        },
      }),
      'Lent: the VM sees the reader; no card in it: The reader is busy or held by another program.',
    ],
    [
      state({ link: 'lent', card: card('accepted') }),
      'Lent: the VM can use the card, ATR 3B 95 13 81 01 80 73 FF 01 00 0B (shown to the VM as 3B 95 13 81 01 80 73 FF 01 00 0A, T=0-compatible).',
    ],
    [
      state({ link: 'lent', card: card('pending', false) }),
      'Lent: announcing the card to the VM, ATR 3B 95 13 81 01 80 73 FF 01 00 0B.',
    ],
    [
      state({
        link: 'reconnecting',
        error: { code: 'BRIDGE_CONNECTION_LOST', message: 'The connection to the relay was lost.' },
        reconnectAttempt: 2,
        nextRetryAtMs: 3_500,
      }),
      'The connection to the relay was lost; reconnecting (attempt 2 in 3 s)…',
    ],
    [
      state({
        link: 'refused',
        error: {
          code: 'BRIDGE_VM_IN_USE',
          message: 'Another browser is already lending a card to this VM.',
        },
      }),
      'Refused: Another browser is already lending a card to this VM.',
    ],
    [state({ link: 'stopped' }), 'Stopped: the VM no longer has the card.'],
  ])('%#: %s', (s, line) => {
    expect(formatStatus(s, 1_000)).toBe(line);
  });

  describe('while the bridge powers the card on again (powerOnRetry)', () => {
    const sharingViolation = {
      code: 'BRIDGE_READER_BUSY',
      message: 'The reader is busy or held by another program.',
      source: { kind: 'pcsc', code: 'SCARD_E_SHARING_VIOLATION' },
    } as const;
    const retrying = (attempt: number, error: NonNullable<BridgeState['error']>): BridgeState =>
      state({
        link: 'lent',
        powerOnRetry: { attempt, maxAttempts: 3, nextAtMs: 2_000, error },
      });
    const inUse = explain(
      { kind: 'pcsc', code: 'SCARD_E_SHARING_VIOLATION' },
      { os: 'linux', client: 'cli' },
    );

    it("says the card is not ready and trying again n/N, why in the catalog's words", () => {
      expect(formatStatus(retrying(2, sharingViolation), 1_000, 'linux')).toBe(
        `Lent: the VM sees the reader; card not ready (${inUse.title}, SCARD_E_SHARING_VIOLATION), trying again (2/3) in 1 s…`,
      );
      expect(inUse.id).toBe('reader-in-use');
    });

    it('a failure without a source is told by its bridge code; an older error does not win', () => {
      const mute = { code: 'BRIDGE_CARD_MUTE', message: 'The card does not answer.' } as const;
      const title = explain({ kind: 'bridge', code: 'BRIDGE_CARD_MUTE' }, { client: 'cli' }).title;
      const s = { ...retrying(1, mute), error: sharingViolation };
      expect(formatStatus(s, 1_600)).toBe(
        `Lent: the VM sees the reader; card not ready (${title}, BRIDGE_CARD_MUTE), trying again (1/3) in 1 s…`,
      );
      // Due already (the retry is running): no negative countdown.
      expect(formatStatus(s, 2_500)).toContain('trying again (1/3) in 0 s…');
    });

    it('after the last failure the error is said as without retries', () => {
      expect(formatStatus(state({ link: 'lent', error: sharingViolation }), 1_000)).toBe(
        'Lent: the VM sees the reader; no card in it: The reader is busy or held by another program.',
      );
    });

    it('JSON state events carry powerOnRetry as the bridge has it, null without', () => {
      expect(stateEvent(retrying(3, sharingViolation))).toMatchObject({
        event: 'state',
        link: 'lent',
        card: null,
        error: null,
        powerOnRetry: { attempt: 3, maxAttempts: 3, nextAtMs: 2_000, error: sharingViolation },
      });
      const line = JSON.parse(jsonLine(stateEvent(retrying(1, sharingViolation))));
      expect(line.powerOnRetry.error.source).toEqual(sharingViolation.source);
      expect(stateEvent(state({ link: 'lent' }))).toMatchObject({ powerOnRetry: null });
    });
  });

  it('JSON state event', () => {
    expect(stateEvent(state({ link: 'lent', card: card('accepted') }))).toEqual({
      event: 'state',
      link: 'lent',
      card: {
        atr: '3B951381018073FF01000B',
        presentedAtr: '3B951381018073FF01000A',
        isT0Compat: true,
        vmStatus: 'accepted',
      },
      error: null,
      reconnectAttempt: null,
      powerOnRetry: null,
    });
  });
});

function entry(command: string, response: string, extra: Partial<ApduLogEntry> = {}): ApduLogEntry {
  const c = hex(command);
  const r = hex(response);
  return {
    id: 7,
    atMs: 1_800_000_000_000,
    direction: 'vm-to-card',
    command: c,
    header: c.slice(0, 4),
    name: 'SELECT',
    commandLength: c.length,
    hasData: c.length > 5,
    lc: Math.max(0, c.length - 5),
    le: null,
    response: r,
    responseDataLength: r.length - 2,
    sw: 0x9000,
    swText: 'OK',
    latencyMs: 1.234,
    isRedacted: false,
    answeredBy: 'card',
    ...extra,
  };
}

describe('APDU log', () => {
  it('a card answer', () => {
    expect(formatApduLine(exportEntry(entry('00A4040009A00000030800001000', '6F079000')))).toBe(
      '#7 SELECT 00A4040009A00000030800001000 → 2 bytes 9000 OK (1.2 ms)',
    );
  });

  it('PIN data is hidden even when an entry carries it (the page redaction), and so is the answer', () => {
    // A VERIFY with the PIN in clear and not flagged redacted: toExportableLog re-checks it.
    const e = exportEntry(
      entry('0020008008313233343536FFFF', '9000', {
        name: 'VERIFY',
        sw: 0x9000,
        responseDataLength: 0,
      }),
    );
    expect(e.isRedacted).toBe(true);
    expect(e.command).toBeNull();
    expect(e.response).toBeNull();
    const line = formatApduLine(e);
    expect(line).toBe('#7 VERIFY 00200080 [PIN data hidden] → 9000 OK (1.2 ms)');
    expect(line).not.toMatch(/313233/);
    expect(JSON.stringify(e)).not.toMatch(/313233/);
  });

  it('long commands are shortened; bridge answers are marked', () => {
    const line = formatApduLine(
      exportEntry(
        entry(`80100000FF${'AB'.repeat(255)}`, '6F00', {
          name: 'PROPRIETARY',
          sw: 0x6f00,
          swText: 'No precise diagnosis',
          answeredBy: 'bridge-error',
          errorCode: 'BRIDGE_CARD_ABSENT',
          responseDataLength: 0,
        }),
      ),
    );
    expect(line).toMatch(
      /^#7 PROPRIETARY 80100000FFABAB.*…\(\+236 bytes\) → 6F00 No precise diagnosis \[cardlend answered: BRIDGE_CARD_ABSENT\]/,
    );
  });
});

describe('outcomeOf', () => {
  const err = (code: string) => ({ code: code as never, message: 'm' });
  it.each([
    ['connecting', state({ link: 'connecting' }), false, { kind: 'continue' }],
    ['lent', state({ link: 'lent' }), false, { kind: 'continue' }],
    [
      'reconnecting',
      state({ link: 'reconnecting', error: err('BRIDGE_CONNECTION_LOST') }),
      false,
      { kind: 'continue' },
    ],
    [
      'token refused',
      state({ link: 'refused', error: err('BRIDGE_UNAUTHORIZED'), closeCode: 4001 }),
      false,
      { kind: 'exit', exitCode: ExitCode.Refused, errorCode: 'BRIDGE_UNAUTHORIZED' },
    ],
    [
      'VM in use',
      state({ link: 'refused', error: err('BRIDGE_VM_IN_USE') }),
      false,
      { kind: 'exit', exitCode: ExitCode.Refused, errorCode: 'BRIDGE_VM_IN_USE' },
    ],
    [
      'ATR refused: the bridge must be stopped',
      state({ link: 'refused', error: err('BRIDGE_ATR_REFUSED') }),
      false,
      { kind: 'stop', exitCode: ExitCode.Refused, errorCode: 'BRIDGE_ATR_REFUSED' },
    ],
    [
      'ATR refused while stopping anyway',
      state({ link: 'refused', error: err('BRIDGE_ATR_REFUSED') }),
      true,
      { kind: 'continue' },
    ],
    [
      'gave up reconnecting',
      state({ link: 'failed', error: err('BRIDGE_RELAY_UNREACHABLE') }),
      false,
      { kind: 'exit', exitCode: ExitCode.Failed, errorCode: 'BRIDGE_RELAY_UNREACHABLE' },
    ],
    [
      'stopped on request',
      state({ link: 'stopped' }),
      true,
      { kind: 'exit', exitCode: ExitCode.Ok, errorCode: null },
    ],
    [
      'reader unplugged',
      state({ link: 'stopped', error: err('BRIDGE_READER_GONE') }),
      false,
      { kind: 'exit', exitCode: ExitCode.Failed, errorCode: 'BRIDGE_READER_GONE' },
    ],
    [
      'relay ended the session',
      state({ link: 'stopped', closeCode: 1000 }),
      false,
      { kind: 'exit', exitCode: ExitCode.Failed, errorCode: 'BRIDGE_RELAY_CLOSED' },
    ],
  ])('%s', (_what, s, isStopRequested, outcome) => {
    expect(outcomeOf(s, isStopRequested)).toEqual(outcome);
  });
});

describe('clockTime', () => {
  it('local HH:MM:SS, zero-padded', () => {
    const d = new Date(2026, 11, 6, 3, 4, 5);
    expect(clockTime(d.getTime())).toBe('03:04:05');
  });
});
