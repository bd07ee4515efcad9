/** LendingSession while the bridge retries or resumes, and reopening a known reader (issue 14). */
import { RelayClose } from '@cardlend/vscard';
import { describe, expect, it } from 'vitest';
import { setup } from './lending-session.fixture.ts';
import type { LinkSnapshot } from './ports.ts';

describe('LendingSession', () => {
  describe('while the bridge retries (issue 14 §4, §1)', () => {
    const lost: LinkSnapshot = {
      link: 'reconnecting',
      card: null,
      error: { code: 'BRIDGE_VM_UNREACHABLE', message: 'x' },
      closeCode: RelayClose.VM_UNREACHABLE,
      reconnectAttempt: 2,
      nextRetryAtMs: 1_700_000_001_000,
    };

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
