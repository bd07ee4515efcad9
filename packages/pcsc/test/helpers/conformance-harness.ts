/**
 * The bridge's reader conformance harness for PcscReader: the real pcscd with vpcd
 * (@cardlend/pcsc/testing), the conformance card as a simulated T=1 card in slot 0.
 * insert/remove = the vpcd card connects/disconnects; unplug = pcscd restarted without
 * vpcd's readers; holdNextAnswer = the vpcd card keeps its answer.
 */
import { createT1Card } from '@cardlend/card-sim';
import { conformanceCardAnswer } from '@cardlend/bridge/conformance';
import type { HeldAnswer, ReaderHarness, ReaderHarnessFactory } from '@cardlend/bridge/conformance';
import { isCardPresentState, PcscContext, PcscReader } from '../../src/index.ts';
import type { Pcscd, VpcdCard, VpcdFault } from '../../test-support/index.ts';
import { waitForCard, waitUntil } from '../../test-support/index.ts';

interface Hold {
  isTaken: boolean;
  reached: () => void;
  until: Promise<void>;
  release: () => void;
  sent: Promise<void>;
  onSent: () => void;
}

function newHold(): { hold: Hold; reached: Promise<void> } {
  let reached!: () => void;
  let release!: () => void;
  let onSent!: () => void;
  const reachedP = new Promise<void>((r) => (reached = r));
  const until = new Promise<void>((r) => (release = r));
  const sent = new Promise<void>((r) => (onSent = r));
  return { hold: { isTaken: false, reached, until, release, sent, onSent }, reached: reachedP };
}

/** A harness factory over the running test pcscd. */
export function pcscHarnessFactory(getPcscd: () => Pcscd): ReaderHarnessFactory {
  return async (opts) => {
    const pcscd = getPcscd();
    const name = pcscd.readers[0];
    const virtual = createT1Card({ process: conformanceCardAnswer });
    let hold: Hold | null = null;
    const onCommand = (): VpcdFault | undefined => {
      if (hold === null || hold.isTaken) return undefined;
      hold.isTaken = true;
      hold.reached();
      return { kind: 'wait', until: hold.until, onSent: hold.onSent };
    };
    let card: VpcdCard | null = null;
    let isUnplugged = false;
    const insertCard = async (): Promise<void> => {
      card =
        card === null ? await pcscd.insertCard(virtual, { onCommand }) : await pcscd.reinsert(card);
    };
    if (opts.withCard) await insertCard();
    const context = new PcscContext();
    await context.settled();
    await waitUntil(
      () => {
        const s = context.readers.get(name);
        return s !== undefined && isCardPresentState(s.state) === opts.withCard;
      },
      `the card ${opts.withCard ? 'present' : 'absent'} in ${name}`,
    );
    const reader = new PcscReader(context, name, { answerTimeoutMs: opts.answerTimeoutMs }, true);
    const harness: ReaderHarness = {
      reader,
      slot: 0,
      atr: virtual.atr,
      insertCard,
      removeCard: async () => {
        await card?.remove();
      },
      unplugReader: async () => {
        isUnplugged = true;
        await pcscd.unplugReaders();
      },
      holdNextAnswer: (): HeldAnswer => {
        const { hold: h, reached } = newHold();
        hold = h;
        return {
          reached,
          release: async () => {
            h.release();
            const c = card;
            if (c !== null && c.isInserted) await Promise.race([h.sent, c.whenClosed()]);
          },
        };
      },
      dispose: async () => {
        hold?.release();
        await reader.close();
        if (card?.isInserted === true) await card.remove();
        if (isUnplugged) await pcscd.plugReaders();
        else if (card !== null) await waitForCard(name, 'absent');
      },
    };
    return harness;
  };
}
