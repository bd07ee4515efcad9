/**
 * LendingSession while the bridge retries (the link, or powering the card on) or resumes, and
 * reopening a known reader (issue 14).
 */
import type { BridgeState } from '@cardlend/bridge';
import { RelayClose } from '@cardlend/vscard';
import { describe, expect, expectTypeOf, it } from 'vitest';
import { ATR_T1, setup } from './lending-session.fixture.ts';
import type { LinkSnapshot } from './ports.ts';

/** The link dropped; the bridge reconnects by itself. */
const lost: LinkSnapshot = {
  link: 'reconnecting',
  card: null,
  error: { code: 'BRIDGE_VM_UNREACHABLE', message: 'x' },
  closeCode: RelayClose.VM_UNREACHABLE,
  reconnectAttempt: 2,
  nextRetryAtMs: 1_700_000_001_000,
};

describe('LendingSession', () => {
  describe('while the bridge retries (issue 14 §4, §1)', () => {
    it('holds the error back as pendingProblem and shows the attempt of N', async () => {
      const { session, reader } = setup();
      await session.tryVirtualCard();
      reader.link?.emit({ link: 'lent', card: null, error: null });
      reader.link?.emit(lost);
      expect(session.problem).toBeNull();
      expect(session.pendingProblem?.id).toBe('vm-unreachable');
      expect(session.reconnect).toEqual({
        attempt: 2,
        maxAttempts: 10,
        nextRetryAtMs: 1_700_000_001_000,
      });
      // Connecting again after having been lent is still retrying.
      const { reconnectAttempt: _attempt, ...withoutAttempt } = lost;
      reader.link?.emit({ ...withoutAttempt, link: 'connecting' });
      expect(session.problem).toBeNull();
      expect(session.reconnect).toBeNull();
      reader.link?.emit({ link: 'lent', card: null, error: null });
      expect(session.pendingProblem).toBeNull();
      expect(session.problem).toBeNull();
    });

    it('sets the problem once retrying has ended', async () => {
      const { session, reader } = setup();
      await session.tryVirtualCard();
      reader.link?.emit(lost);
      const { reconnectAttempt: _attempt, ...withoutAttempt } = lost;
      reader.link?.emit({ ...withoutAttempt, link: 'failed' });
      expect(session.problem?.id).toBe('vm-unreachable');
      expect(session.pendingProblem).toBeNull();
    });

    it('takes N from the bridge policy', async () => {
      const { session, reader } = setup();
      const lend = reader.lend.bind(reader);
      reader.lend = (opts) => Object.assign(lend(opts), { reconnectPolicy: { maxAttempts: 3 } });
      await session.tryVirtualCard();
      reader.link?.emit(lost);
      expect(session.reconnect?.maxAttempts).toBe(3);
    });

    it("explains the relay's notice of a slow VM channel with the measured stall", async () => {
      const { session, reader } = setup();
      await session.tryVirtualCard();
      expect(session.channelNotice).toBeNull();
      const lent: LinkSnapshot = { link: 'lent', card: null, error: null };
      reader.link?.emit({
        ...lent,
        relayNotice: { code: 'nagle-suspected', typicalStallMs: 41.6 },
      });
      expect(session.channelNotice?.id).toBe('vm-channel-slow');
      expect(session.channelNotice?.cause).toContain('about 42 ms');
      expect(session.channelNotice?.reference).toBe('relay notice nagle-suspected');
      reader.link?.emit({ ...lent, relayNotice: { code: 'some-later-notice' } });
      expect(session.channelNotice).toBeNull();
    });

    it.each(['resuming', 'resumed', 'cannot-resume'] as const)(
      'reports resume %s from the bridge, null without it',
      async (resume) => {
        const { session, reader } = setup();
        await session.tryVirtualCard();
        expect(session.resume).toBeNull();
        reader.link?.emit({ ...lost, resume });
        expect(session.resume).toBe(resume);
      },
    );
  });

  describe('while the bridge powers the card on again (powerOnRetry)', () => {
    const busy = {
      code: 'BRIDGE_READER_BUSY',
      message: 'The reader is busy.',
      source: { kind: 'pcsc', code: 'SCARD_E_SHARING_VIOLATION' },
    } as const;
    const lentNoCard: LinkSnapshot = { link: 'lent', card: null, error: null };
    const retrying = (attempt: number, over: Partial<LinkSnapshot> = {}): LinkSnapshot => ({
      ...lentNoCard,
      powerOnRetry: { attempt, maxAttempts: 3, nextAtMs: 1_700_000_000_500, error: busy },
      ...over,
    });

    it("has the bridge's snapshot shape", () => {
      expectTypeOf<BridgeState['powerOnRetry']>().toExtend<LinkSnapshot['powerOnRetry']>();
    });

    it('holds the failure back as pendingProblem (no problem) and says attempt n of N', async () => {
      const { session, reader } = setup();
      await session.tryVirtualCard();
      reader.link?.emit(lentNoCard);
      expect(session.cardRetry).toBeNull();
      reader.link?.emit(retrying(1));
      expect(session.problem).toBeNull();
      expect(session.pendingProblem?.id).toBe('reader-in-use');
      expect(session.pendingProblem?.reference).toBe('SCARD_E_SHARING_VIOLATION');
      expect(session.cardRetry).toMatchObject({
        attempt: 1,
        maxAttempts: 3,
        nextAtMs: 1_700_000_000_500,
        why: { id: 'reader-in-use', reference: 'SCARD_E_SHARING_VIOLATION' },
      });
      reader.link?.emit(retrying(2));
      expect(session.cardRetry?.attempt).toBe(2);
      expect(session.problem).toBeNull();
      // Powered on at last: nothing held back, nothing shown.
      const card = {
        atr: ATR_T1,
        protocol: 1,
        presentedAtr: ATR_T1,
        vmStatus: 'accepted',
      } as const;
      reader.link?.emit({ ...lentNoCard, card });
      expect(session.cardRetry).toBeNull();
      expect(session.pendingProblem).toBeNull();
      expect(session.problem).toBeNull();
    });

    it('shows the problem once the last retry failed too (it arrives in error)', async () => {
      const { session, reader } = setup();
      await session.tryVirtualCard();
      reader.link?.emit(retrying(3));
      expect(session.problem).toBeNull();
      reader.link?.emit({ ...lentNoCard, error: busy });
      expect(session.cardRetry).toBeNull();
      expect(session.problem?.id).toBe('reader-in-use');
      expect(session.problem?.reference).toBe('SCARD_E_SHARING_VIOLATION');
      expect(session.pendingProblem).toBeNull();
    });

    it("hides an earlier card's problem while the new card is retried", async () => {
      const { session, reader } = setup();
      await session.tryVirtualCard();
      const mute = { code: 'BRIDGE_CARD_MUTE', message: 'The card is mute.' };
      reader.link?.emit({ ...lentNoCard, error: mute });
      expect(session.problem?.id).toBe('card-mute');
      // The bridge leaves `error` alone while it retries.
      reader.link?.emit(retrying(1, { error: mute }));
      expect(session.problem).toBeNull();
      expect(session.pendingProblem?.id).toBe('reader-in-use');
    });

    it('keeps a reconnect error as the one held back; no retry once lending ended', async () => {
      const { session, reader } = setup();
      await session.tryVirtualCard();
      reader.link?.emit(retrying(1, lost));
      expect(session.pendingProblem?.id).toBe('vm-unreachable');
      expect(session.cardRetry?.why.id).toBe('reader-in-use');
      reader.link?.emit(retrying(1, { link: 'failed', error: busy }));
      expect(session.cardRetry).toBeNull();
      expect(session.problem?.id).toBe('reader-in-use');
    });
  });

  describe('useKnownReader (issue 14 §10)', () => {
    const device = { vendorId: 0x1050, productId: 0x0407 } as USBDevice;

    it('opens the allowed reader without the chooser and lends it', async () => {
      const opened: USBDevice[] = [];
      let chooserCalls = 0;
      const { session, reader } = setup({
        chooseReader: async () => {
          chooserCalls++;
          throw new Error('no chooser expected');
        },
        openKnownReader: async (d) => {
          opened.push(d);
          return reader;
        },
      });
      await session.useKnownReader(device);
      expect(opened).toEqual([device]);
      expect(chooserCalls).toBe(0);
      expect(session.isLending).toBe(true);
      expect(reader.link?.startCalls).toBe(1);
    });

    it('explains a reader that cannot be opened, like a chosen one', async () => {
      const busy = Object.assign(new Error('busy'), { code: 'CCID_DEVICE_BUSY' });
      const { session } = setup({
        openKnownReader: async () => {
          throw busy;
        },
      });
      await session.useKnownReader(device);
      expect(session.isLending).toBe(false);
      expect(session.problem).not.toBeNull();
    });
  });
});
