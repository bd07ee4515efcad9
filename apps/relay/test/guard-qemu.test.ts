/**
 * Issue 11 through the relay, with its default frame policy (the forward guard), on real QEMU
 * 7.2 and 10.0: the wedge attack (ReaderAdd and a 65 524-byte APDU back to back while QEMU is
 * stopped) and a pipelined flood are refused with 4015 and a reason naming the rule, and a
 * fresh session is served; a VM whose chardev lacks nodelay=on is reported (`nagle-suspected`).
 */
import {
  clientInit,
  encodeMessage,
  parseRelayNotice,
  RelayClose,
  relaySubprotocols,
  VSC,
  type VscardMessage,
} from '@cardlend/vscard';
import type { QemuVersion } from '@cardlend/qemu-testbed';
import { describe, expect, it } from 'vitest';
import type { ServerEvent } from '../src/server-events.ts';
import { until } from './helpers.ts';
import { qemuRigPerTest } from './relay-rig.ts';
import { GUARD_POLICY } from '../src/session/guard-policy.ts';
import { createRelayMetrics } from '../src/ops/metrics.ts';

const INIT = encodeMessage(clientInit());
const READER_ADD = encodeMessage({ type: 'ReaderAdd', readerId: 0, name: '' });
const BIG_APDU = encodeMessage({ type: 'APDU', readerId: 0, apdu: new Uint8Array(65524) });

const typeOf = (frame: Buffer): number => frame.readUInt32BE(0);

describe.each<QemuVersion>(['7.2', '10.0'])(
  'forward guard in the relay, real QEMU %s',
  (version) => {
    const rig = qemuRigPerTest(version);
    const { open } = rig;
    let events: ServerEvent[] = [];

    const metrics = createRelayMetrics({ hasProcessMetrics: false });

    async function start(extraArgs: string[] = []): Promise<void> {
      const qemu = await rig.startQemu({ extraArgs });
      events = await rig.startRelay(qemu.port, {}, { framePolicy: GUARD_POLICY, metrics });
    }

    /** A fresh session: Init answered by QEMU's Init (QEMU still reads). */
    async function expectServed(): Promise<void> {
      const b = await open();
      b.send(INIT);
      const reply = await b.frame(0, 5000);
      expect(typeOf(reply)).toBe(VSC.Init);
    }

    it('the wedge attack (ReaderAdd + 65 524-byte APDU back to back, QEMU stopped) is refused with 4015; a fresh session is served', async () => {
      await start();
      const b = await open();
      process.kill(rig.qemu.pid, 'SIGSTOP'); // QEMU "briefly busy"
      b.send(READER_ADD);
      b.send(BIG_APDU);
      const closed = await b.closed;
      expect(closed.code).toBe(RelayClose.PROTOCOL_VIOLATION);
      expect(closed.reason).toMatch(/^Protocol violation: APDU answer with 65524 payload bytes/);
      process.kill(rig.qemu.pid, 'SIGCONT');
      await until(() => events.some((e) => e.kind === 'session-end'), 10_000);
      await expectServed();
    });

    it('a pipelined flood of control messages is refused with 4015 (control-in-flight); a fresh session is served', async () => {
      await start();
      const b = await open();
      for (let i = 0; i < 700; i++) b.send(READER_ADD);
      const closed = await b.closed;
      expect(closed.code).toBe(RelayClose.PROTOCOL_VIOLATION);
      expect(closed.reason).toMatch(/before QEMU acknowledged the last one/);
      await until(() => events.some((e) => e.kind === 'session-end'), 10_000);
      await expectServed();
    });

    it('an answer with no guest command waiting is refused (4015, answer-without-command)', async () => {
      await start();
      const b = await open();
      const answer: VscardMessage = { type: 'APDU', readerId: 0, apdu: Uint8Array.of(0x90, 0x00) };
      b.send(encodeMessage(answer));
      const closed = await b.closed;
      expect(closed.code).toBe(RelayClose.PROTOCOL_VIOLATION);
      expect(closed.reason).toMatch(/no guest command waiting/);
    });

    it('a VM without nodelay=on is reported: each reply waits for the delayed ACK (nagle-suspected)', async () => {
      await start(['-set', 'chardev.vscard.nodelay=off']);
      const b = await open();
      for (let i = 0; i < 5; i++) {
        b.send(INIT);
        await b.frame(i, 5000);
      }
      await until(() => events.some(isNagleNotice), 5000);
      const notice = events.find(isNagleNotice);
      expect(
        notice?.kind === 'session-event' && notice.event.kind === 'notice' && notice.event.notice,
      ).toMatchObject({
        code: 'nagle-suspected',
        message: expect.stringMatching(
          /^This VM's smart-card channel adds about \d+ ms per command/,
        ),
      });
      const text = await (await fetch(`http://127.0.0.1:${rig.relay.address.port}/metrics`)).text();
      expect(text).toMatch(/cardlend_relay_session_notices_total\{code="nagle-suspected"\} [1-9]/);
    });

    it('a page on the long-answers contract gets the nagle notice as a text frame it can show', async () => {
      await start(['-set', 'chardev.vscard.nodelay=off']);
      const b = await open(relaySubprotocols(undefined, { longAnswers: true }));
      for (let i = 0; i < 5; i++) {
        b.send(INIT);
        await b.frame(i, 5000);
      }
      await until(() => b.frames.some((f) => !f.isBinary), 5000);
      const text = b.frames.find((f) => !f.isBinary)?.data.toString() ?? '';
      expect(parseRelayNotice(text)).toMatchObject({
        code: 'nagle-suspected',
        message: expect.stringContaining('per command'),
        typicalStallMs: expect.any(Number),
      });
    });

    it('with nodelay=on nothing is reported', async () => {
      await start();
      const b = await open();
      for (let i = 0; i < 5; i++) {
        b.send(INIT);
        await b.frame(i, 5000);
      }
      expect(events.some(isNagleNotice)).toBe(false);
    });
  },
);

function isNagleNotice(e: ServerEvent): boolean {
  return (
    e.kind === 'session-event' &&
    e.event.kind === 'notice' &&
    e.event.notice.code === 'nagle-suspected'
  );
}
