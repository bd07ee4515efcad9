/** What every lender sends first, for the tests against real QEMU: Init, ReaderAdd, the ATR. */
import { clientInit, type VscardMessage } from '@cardlend/vscard';
import { expect } from 'vitest';

/** Sends Init, ReaderAdd and the card's ATR through `request`; QEMU must accept each. */
export async function announceCard(
  request: (msg: VscardMessage) => Promise<VscardMessage>,
  atr: Uint8Array,
  readerName = '',
): Promise<void> {
  expect(await request(clientInit())).toMatchObject({ type: 'Init' });
  const ack = { type: 'Error', code: 0 };
  expect(await request({ type: 'ReaderAdd', readerId: 0, name: readerName })).toMatchObject(ack);
  expect(await request({ type: 'ATR', readerId: 0, atr })).toMatchObject(ack);
}
