/** Per-session limits of RelaySession: message rate and slow readers (issue 6, "Limits"). */
import { RelayClose } from '@cardlend/vscard';
import { expect, it } from 'vitest';
import type { RelayConfig } from '../src/config.ts';
import { msg, sleep, until } from './helpers.ts';
import { fakeVmRigPerTest } from './relay-rig.ts';

const rig = fakeVmRigPerTest({});

/** A relay on the fake VM with `config`, a page on it, and the VM connection of its session. */
async function lend(config: Partial<RelayConfig>) {
  const events = await rig.startRelay(rig.vm.port, config);
  const b = await rig.open();
  return { b, conn: await rig.vm.nextConnection(0), events };
}

it('a browser flooding messages is closed with RATE_LIMITED; the excess never reaches the VM', async () => {
  const {
    b: browser,
    conn,
    events,
  } = await lend({
    messageRate: { ratePerSecond: 10, burst: 5 },
  });
  for (let i = 0; i < 50; i++) browser.send(msg(7, 0, '9000'));
  const closed = await browser.closed;
  expect(closed.code).toBe(RelayClose.RATE_LIMITED);
  expect(closed.reason).toMatch(/too fast/);
  await conn.waitFor(() => conn.isEnded, 3000, 'FIN');
  const types = conn.messages.map((m) => m.type);
  expect(types.filter((t) => t === 7).length).toBeLessThanOrEqual(6);
  expect(types.slice(-2)).toEqual([6, 4]);
  expect(events.some((e) => e.kind === 'session-event' && e.event.kind === 'limit')).toBe(true);
});

it('a browser that stops reading is closed after slowReaderTimeoutMs and the VM is released', async () => {
  const { b: browser, conn, events } = await lend({ slowReaderTimeoutMs: 300 });
  const { relay } = rig;
  browser.ws.pause();
  const big = msg(7, 0, 'ab'.repeat(32 * 1024));
  // Flood until the relay stops reading the VM.
  for (let i = 0; i < 2000 && relay.sessions.get('default')?.isVmPaused !== true; i++) {
    if (!conn.socket.write(big)) await sleep(5);
  }
  expect(relay.sessions.get('default')?.isVmPaused).toBe(true);
  await until(
    () =>
      events.some(
        (e) =>
          e.kind === 'session-event' &&
          e.event.kind === 'limit' &&
          e.event.refusal === 'slow-reader',
      ),
    3000,
    'slow-reader limit',
  );
  // The relay reads the VM again (discarding), so QEMU's writes never stall, and removes the card.
  await conn.waitFor(() => conn.isEnded, 5000, 'FIN');
  // Every guest command the relay passed on is answered with VSC_Error, then CardRemove, ReaderRemove.
  const types = conn.messages.map((m) => m.type);
  expect(types.slice(-2)).toEqual([6, 4]);
  expect(types.slice(0, -2).every((t) => t === 2)).toBe(true);
  expect(types.length - 2).toBeGreaterThan(0);
  await until(() => rig.relay.sessions.size === 0, 5000, 'session end');
});

it('answers to outstanding guest commands are exempt from the message rate; anything else is not', async () => {
  const { b, conn } = await lend({ messageRate: { ratePerSecond: 10, burst: 5 } });
  // The browser answers every guest command at once, as the page does.
  b.ws.on('message', (data: Buffer) => {
    if (data.readUInt32BE(0) === 7) b.send(msg(7, 0, '9000'));
  });
  // 60 guest commands, far above 5 + 10/s: every answer gets through.
  for (let i = 0; i < 60; i++) conn.socket.write(msg(7, 0, '00b00000 00'));
  await conn.waitFor(
    () => conn.messages.filter((m) => m.type === 7).length === 60,
    5000,
    '60 answers',
  );
  expect(rig.relay.sessions.get('default')?.phase).toBe('open');
  expect(rig.relay.sessions.get('default')?.outstandingGuestCommands).toBe(0);
  // An answer with no guest command outstanding is an ordinary message: the limiter applies.
  for (let i = 0; i < 20; i++) b.send(msg(7, 0, '9000'));
  const closed = await b.closed;
  expect(closed.code).toBe(RelayClose.RATE_LIMITED);
  await conn.waitFor(() => conn.isEnded, 3000, 'FIN');
  const answers = conn.messages.filter((m) => m.type === 7).length;
  expect(answers).toBeGreaterThanOrEqual(60);
  expect(answers).toBeLessThanOrEqual(66);
});

it('more answers than guest commands: only as many as were outstanding are exempt', async () => {
  const { b, conn } = await lend({ messageRate: { ratePerSecond: 1, burst: 2 } });
  for (let i = 0; i < 3; i++) conn.socket.write(msg(7, 0, '00b00000 00'));
  await b.frame(2);
  // 3 exempt answers + a burst of 2, then the limit.
  for (let i = 0; i < 10; i++) b.send(msg(7, 0, '9000'));
  const closed = await b.closed;
  expect(closed.code).toBe(RelayClose.RATE_LIMITED);
  await conn.waitFor(() => conn.isEnded, 3000, 'FIN');
  expect(conn.messages.filter((m) => m.type === 7).length).toBe(5);
});
