/** The relay's resume tickets (src/resume/tickets.ts): issue, claim, replay, end, forget. */
import { describe, expect, it } from 'vitest';
import { ResumeTickets, TICKET_REFUSALS } from '../src/resume/tickets.ts';

const ORIGIN = 'https://page.example';
const bytes = (n: number): Uint8Array => new Uint8Array(16).fill(n);

describe('resume tickets', () => {
  it('a live ticket resumes its session once; the replay is refused as used', () => {
    const t = new ResumeTickets<string>(1000);
    const ticket = t.issue('s1', ORIGIN, bytes(1), 0);
    expect(t.claim(ticket, ORIGIN, 10)).toEqual({ ok: true, session: 's1' });
    expect(t.claim(ticket, ORIGIN, 20)).toEqual({ ok: false, refusal: 'used' });
  });

  it('a newer ticket of the session makes the older one used', () => {
    const t = new ResumeTickets<string>(1000);
    const first = t.issue('s1', ORIGIN, bytes(1), 0);
    const second = t.issue('s1', ORIGIN, bytes(2), 5);
    expect(t.claim(first, ORIGIN, 10)).toEqual({ ok: false, refusal: 'used' });
    expect(t.claim(second, ORIGIN, 10)).toEqual({ ok: true, session: 's1' });
  });

  const cases: {
    name: string;
    presented: (issued: string) => string;
    origin: string | undefined;
    endedAtMs: number | null;
    atMs: number;
    expected: 'resumed' | 'used' | 'expired' | 'unknown';
  }[] = [
    {
      name: 'live, same origin',
      presented: (x) => x,
      origin: ORIGIN,
      endedAtMs: null,
      atMs: 50,
      expected: 'resumed',
    },
    {
      name: 'another origin',
      presented: (x) => x,
      origin: 'https://evil.example',
      endedAtMs: null,
      atMs: 50,
      expected: 'unknown',
    },
    {
      name: 'a native client replaying a page ticket',
      presented: (x) => x,
      origin: undefined,
      endedAtMs: null,
      atMs: 50,
      expected: 'unknown',
    },
    {
      name: 'never issued',
      presented: () => 'r1.AAAAAAAAAAAAAAAAAAAAAA',
      origin: ORIGIN,
      endedAtMs: null,
      atMs: 50,
      expected: 'unknown',
    },
    {
      name: 'session ended (grace over)',
      presented: (x) => x,
      origin: ORIGIN,
      endedAtMs: 40,
      atMs: 50,
      expected: 'expired',
    },
    {
      name: 'ended just before forgetting',
      presented: (x) => x,
      origin: ORIGIN,
      endedAtMs: 40,
      atMs: 1039,
      expected: 'expired',
    },
    {
      name: 'ended and forgotten',
      presented: (x) => x,
      origin: ORIGIN,
      endedAtMs: 40,
      atMs: 1040,
      expected: 'unknown',
    },
  ];
  it.each(cases)('$name → $expected', (c) => {
    const t = new ResumeTickets<string>(1000);
    const issued = t.issue('s1', ORIGIN, bytes(9), 0);
    if (c.endedAtMs !== null) t.ended('s1', c.endedAtMs);
    const claim = t.claim(c.presented(issued), c.origin, c.atMs);
    expect(claim.ok ? 'resumed' : claim.refusal).toBe(c.expected);
  });

  it('used tickets are forgotten after the memory; the map does not grow without bound', () => {
    const t = new ResumeTickets<string>(1000);
    for (let i = 0; i < 50; i++) t.issue('s1', ORIGIN, bytes(i), i);
    expect(t.size).toBe(50); // 49 used + 1 live, all within the memory
    t.issue('s1', ORIGIN, bytes(200), 2000);
    expect(t.size).toBe(2); // the ones issued before 1000 ms are gone: the previous live one + the new
  });

  it('each refusal has its own close code', () => {
    const codes = Object.values(TICKET_REFUSALS).map((r) => r.code);
    expect(new Set(codes).size).toBe(3);
    expect(codes.sort()).toEqual([4016, 4017, 4018]);
  });
});
