import { describe, expect, it } from 'vitest';
import { pageView, PAGE_TITLE, trackRetry, type PageViewInput } from './page-view.ts';

const base: PageViewInput = {
  activity: 'lending',
  link: 'lent',
  card: { vmStatus: 'accepted' },
  retry: null,
  hasProblem: false,
  vm: 'lab-1',
  resume: null,
};

describe('pageView', () => {
  it('says "lent" only while the VM has the card', () => {
    expect(pageView(base)).toMatchObject({
      phase: 'lent',
      isLending: true,
      title: 'Lent to lab-1 · cardlend',
      sentence: 'Your card is lent to lab-1.',
      mayShowProblem: true,
    });
    expect(pageView({ ...base, card: null }).phase).toBe('lent-no-card');
    expect(pageView({ ...base, card: { vmStatus: 'pending' } }).phase).toBe('lent-no-card');
    expect(pageView({ ...base, card: { vmStatus: 'refused' } }).phase).toBe('card-refused');
    for (const link of ['connecting', 'reconnecting', 'refused', 'failed', 'stopped'] as const) {
      expect(pageView({ ...base, link }).phase, link).not.toBe('lent');
      expect(pageView({ ...base, link }).sentence, link).not.toMatch(/lent to/);
    }
  });

  it('says the card is not ready, not that there is none, while the bridge powers it on again', () => {
    const noCard = pageView({ ...base, card: null });
    const retrying = pageView({ ...base, card: null, isCardRetrying: true });
    expect(noCard.sentence).toBe('The reader is lent to lab-1, without a card.');
    expect(retrying).toMatchObject({
      phase: 'lent-no-card',
      headline: 'Reader lent to lab-1, card not ready yet',
      sentence: 'The reader is lent to lab-1; the card is not ready yet, trying again by itself.',
      title: 'Lent to lab-1, card not ready · cardlend',
      retryText: null,
    });
    // Only while the VM has no card: once it is lent, the retry flag (a stale one) changes nothing.
    expect(pageView({ ...base, isCardRetrying: true })).toEqual(pageView(base));
  });

  it('shows one amber "retrying (n of N)" and holds the red notice back while retrying', () => {
    const retry = { attempt: 3, maxAttempts: 10 };
    for (const link of ['reconnecting', 'connecting'] as const) {
      const v = pageView({ ...base, link, retry, hasProblem: true });
      expect(v).toMatchObject({
        phase: 'reconnecting',
        retryText: 'Connection lost, retrying (3 of 10)',
        mayShowProblem: false,
        isLending: true,
        title: 'Reconnecting… · cardlend',
      });
    }
    // Retrying ended: the fixes may show.
    const ended = pageView({
      ...base,
      activity: 'idle',
      link: 'failed',
      retry: null,
      hasProblem: true,
    });
    expect(ended).toMatchObject({ phase: 'ended', mayShowProblem: true, retryText: null });
    expect(ended.title).toBe('Stopped · cardlend');
  });

  it('has a plain title and no sentence before lending; one sentence per state', () => {
    expect(pageView({ ...base, activity: 'idle', link: 'idle' })).toMatchObject({
      phase: 'ready',
      title: PAGE_TITLE,
      sentence: '',
      isLending: false,
    });
    expect(pageView({ ...base, activity: 'choosing', link: 'idle' }).sentence).toMatch(/choose/);
    expect(pageView({ ...base, activity: 'stopping' }).phase).toBe('stopping');
    expect(pageView({ ...base, vm: null }).headline).toBe('Lent to the virtual machine');
    for (const link of [
      'idle',
      'connecting',
      'lent',
      'refused',
      'reconnecting',
      'stopped',
      'failed',
    ] as const) {
      const s = pageView({ ...base, link }).sentence;
      expect(s.split(/[.!?](\s|$)/).filter((x) => x.trim() !== '').length, s).toBeLessThanOrEqual(
        1,
      );
    }
  });
});

describe('resuming (issue 14 §1, when the bridge reports it)', () => {
  it('says it reconnects to the same session while resuming, the retry count stays beside Stop', () => {
    const v = pageView({
      ...base,
      link: 'reconnecting',
      retry: { attempt: 1, maxAttempts: 10 },
      resume: 'resuming',
    });
    expect(v.sentence).toBe('Reconnecting to the same session.');
    expect(v.retryText).toBe('Connection lost, retrying (1 of 10)');
    expect(pageView({ ...base, resume: 'resumed' }).phase).toBe('lent');
  });
});

describe('trackRetry', () => {
  it('counts attempts through reconnecting and connecting, clears once lent or ended', () => {
    let r = trackRetry(null, { activity: 'lending', link: 'lent' }, 10);
    expect(r).toBeNull();
    r = trackRetry(r, { activity: 'lending', link: 'reconnecting', reconnectAttempt: 1 }, 10);
    expect(r).toEqual({ attempt: 1, maxAttempts: 10 });
    r = trackRetry(r, { activity: 'lending', link: 'connecting' }, 10);
    expect(r).toEqual({ attempt: 1, maxAttempts: 10 });
    r = trackRetry(r, { activity: 'lending', link: 'reconnecting', reconnectAttempt: 2 }, 10);
    expect(r).toEqual({ attempt: 2, maxAttempts: 10 });
    expect(trackRetry(r, { activity: 'lending', link: 'lent' }, 10)).toBeNull();
    expect(trackRetry(r, { activity: 'idle', link: 'failed' }, 10)).toBeNull();
    expect(trackRetry(null, { activity: 'lending', link: 'connecting' }, 10)).toBeNull();
    expect(trackRetry(null, { activity: 'lending', link: 'reconnecting' }, 10)).toEqual({
      attempt: 1,
      maxAttempts: 10,
    });
  });
});
