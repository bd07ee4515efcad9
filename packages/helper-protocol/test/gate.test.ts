import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ConnectionGate, encodeMessage, HELPER_CLOSE, HELPER_LIMITS } from '../src/index.ts';
import type { GateAction, WebOrigin } from '../src/index.ts';

const PAGE = 'https://lend.example.org';

function gate(originHeader: string | undefined, approved: readonly string[] = []): ConnectionGate {
  return new ConnectionGate({
    originHeader,
    isApproved: (o: WebOrigin) => approved.includes(o.text),
    helper: 'cardlend test',
    nowMs: 0,
  });
}

const text = (m: object): { text: string } => ({ text: JSON.stringify(m) });

describe('ConnectionGate', () => {
  it('closes a connection without a web Origin, saying nothing else', () => {
    for (const header of [undefined, 'null', 'chrome-extension://x', 'https://a.org/path']) {
      const g = gate(header);
      expect(g.open()).toEqual([
        { type: 'close', code: HELPER_CLOSE.ORIGIN_MISSING, reason: 'HELPER_ORIGIN_MISSING' },
      ]);
      expect(g.isClosed).toBe(true);
    }
  });

  it('greets an unapproved page and refuses everything but pairing', () => {
    const g = gate(PAGE);
    expect(g.open()).toEqual([
      {
        type: 'send',
        message: { type: 'hello', version: 1, helper: 'cardlend test', approved: false },
      },
    ]);
    expect(g.receive(text({ type: 'list', id: 1 }), 0)).toEqual([
      {
        type: 'send',
        message: {
          type: 'error',
          id: 1,
          code: 'HELPER_ORIGIN_NOT_APPROVED',
          message: 'this page is not approved',
        },
      },
    ]);
    expect(g.notify({ type: 'card', reader: 'Secret Reader', present: true })).toEqual([]);
    const pair = g.receive(text({ type: 'pair', id: 2 }), 0);
    expect(pair).toEqual([
      { type: 'pair', id: 2, origin: expect.objectContaining({ text: PAGE }) },
    ]);
    expect(g.pairing('012345')).toEqual([
      { type: 'send', message: { type: 'pairing', code: '012345' } },
    ]);
    expect(g.answer(2, { approved: true })).toEqual([
      { type: 'send', message: { type: 'ok', id: 2, result: { approved: true } } },
    ]);
    expect(g.isApproved).toBe(true);
    expect(g.receive(text({ type: 'list', id: 3 }), 0)).toEqual([
      { type: 'request', message: { type: 'list', id: 3 } },
    ]);
  });

  it('refuses pairing for an http page of another computer', () => {
    const g = gate('http://lend.example.org');
    g.open();
    expect(g.receive(text({ type: 'pair', id: 1 }), 0)).toMatchObject([
      { type: 'send', message: { type: 'error', id: 1, code: 'HELPER_ORIGIN_INSECURE' } },
    ]);
  });

  it('passes an approved page its requests and answers them once', () => {
    const g = gate(PAGE, [PAGE]);
    expect(g.open()).toMatchObject([{ message: { approved: true } }]);
    const msg = { type: 'transmit', id: 7, reader: 'R', apdu: '00a40400' } as const;
    expect(g.receive(text(msg), 0)).toEqual([{ type: 'request', message: msg }]);
    expect(g.pendingCount).toBe(1);
    expect(g.fail(7, 'CCID_CARD_ABSENT', 'no card')).toHaveLength(1);
    expect(g.fail(7, 'CCID_CARD_ABSENT', 'no card')).toEqual([]);
    expect(g.answer(7, { answer: '9000' })).toEqual([]);
  });

  it.each<[string, { text: string } | { binaryBytes: number }, string, number]>([
    ['malformed JSON', { text: '{' }, 'HELPER_MALFORMED', HELPER_CLOSE.MALFORMED],
    ['a binary frame', { binaryBytes: 10 }, 'HELPER_MALFORMED', HELPER_CLOSE.MALFORMED],
    [
      'an oversized binary frame',
      { binaryBytes: HELPER_LIMITS.maxMessageBytes + 1 },
      'HELPER_MESSAGE_TOO_LARGE',
      HELPER_CLOSE.MESSAGE_TOO_LARGE,
    ],
    [
      'an oversized text frame',
      { text: `{"type":"list","id":1,"p":"${'x'.repeat(HELPER_LIMITS.maxMessageBytes)}"}` },
      'HELPER_MESSAGE_TOO_LARGE',
      HELPER_CLOSE.MESSAGE_TOO_LARGE,
    ],
  ])('closes on %s with its code', (_, frame, reason, code) => {
    const g = gate(PAGE, [PAGE]);
    g.open();
    const actions = g.receive(frame, 0);
    expect(actions.at(-1)).toEqual({ type: 'close', code, reason });
    expect(actions[0]).toMatchObject({ type: 'send', message: { type: 'error', code: reason } });
    expect(g.receive(text({ type: 'list', id: 1 }), 0)).toEqual([]);
  });

  it('closes a flood with HELPER_RATE_LIMITED and lets a steady page through', () => {
    const g = gate(PAGE, [PAGE]);
    g.open();
    let last: GateAction[] = [];
    let n = 0;
    for (; n < HELPER_LIMITS.rateBurst + 10 && !g.isClosed; n++) {
      last = g.receive(text({ type: 'list', id: n + 1 }), 0);
      if (last[0]?.type === 'request') g.answer(n + 1, { readers: [] });
    }
    expect(n).toBe(HELPER_LIMITS.rateBurst + 1);
    expect(last.at(-1)).toEqual({
      type: 'close',
      code: HELPER_CLOSE.RATE_LIMITED,
      reason: 'HELPER_RATE_LIMITED',
    });
    const steady = gate(PAGE, [PAGE]);
    steady.open();
    const stepMs = 1000 / HELPER_LIMITS.ratePerSecond;
    for (let i = 0; i < 5 * HELPER_LIMITS.rateBurst; i++) {
      expect(steady.receive(text({ type: 'list', id: i + 1 }), i * stepMs)[0]?.type).toBe(
        'request',
      );
      steady.answer(i + 1, { readers: [] });
    }
  });

  it('refuses requests beyond the unanswered limit, and a reused id', () => {
    const g = gate(PAGE, [PAGE]);
    g.open();
    for (let i = 1; i <= HELPER_LIMITS.maxPendingRequests; i++)
      expect(g.receive(text({ type: 'list', id: i }), 0)[0]?.type).toBe('request');
    expect(g.receive(text({ type: 'list', id: 100 }), 0)).toMatchObject([
      { message: { type: 'error', id: 100, code: 'HELPER_TOO_MANY_REQUESTS' } },
    ]);
    expect(g.receive(text({ type: 'list', id: 1 }), 0).at(-1)).toMatchObject({
      type: 'close',
      reason: 'HELPER_MALFORMED',
    });
  });

  it('an unapproved page never gets a request through or an event (property)', () => {
    const message = fc.oneof(
      fc.record({
        type: fc.constantFrom('list', 'connect', 'status', 'power-on', 'transmit', 'disconnect'),
        id: fc.integer({ min: 1, max: 50 }),
        reader: fc.constantFrom('Virtual PCD 00 00', 'x'),
        apdu: fc.constantFrom('00a40400', undefined),
      }),
      fc.string().map((s) => ({ raw: s })),
    );
    fc.assert(
      fc.property(fc.array(message, { maxLength: 40 }), (messages) => {
        const g = gate(PAGE);
        g.open();
        for (const m of messages) {
          const frame = 'raw' in m ? { text: m.raw } : { text: encodeMessage(m as never) };
          for (const a of g.receive(frame, 0)) {
            expect(a.type === 'send' || a.type === 'close').toBe(true);
            if (a.type === 'send') expect(a.message.type).toBe('error');
            expect(JSON.stringify(a)).not.toContain('Virtual PCD');
          }
          g.notify({ type: 'readers-changed' });
        }
        expect(g.isApproved).toBe(false);
      }),
    );
  });

  it('stop closes with HELPER_STOPPING once', () => {
    const g = gate(PAGE, [PAGE]);
    g.open();
    expect(g.stop().at(-1)).toEqual({
      type: 'close',
      code: HELPER_CLOSE.STOPPING,
      reason: 'HELPER_STOPPING',
    });
    expect(g.stop()).toEqual([]);
  });
});
