/**
 * The largest guest command QEMU can send (VSCARD_MAX_GUEST_COMMAND_BYTES = 65 526 payload
 * bytes, 2 more than any client message) reaches the browser whole; the browser → VM
 * direction stays limited to 65 524.
 */
import net from 'node:net';
import {
  RelayClose,
  VSCARD_HEADER_BYTES,
  VSCARD_MAX_GUEST_COMMAND_BYTES,
  VSCARD_MAX_PAYLOAD_BYTES,
} from '@cardlend/vscard';
import { expect, it } from 'vitest';
import { DialInPort, type DialInEvent } from '../src/dial-in.ts';
import { MAX_FRAME_BYTES, MAX_FRAME_TO_BROWSER_BYTES } from '../src/server.ts';
import { msg, sleep, until } from './helpers.ts';
import { fakeVmRigPerTest } from './relay-rig.ts';

const INIT = msg(1, 0, '56534344 00000002 00000000');

const rig = fakeVmRigPerTest({}, () => ({}));

/** A guest command (VSC_APDU) with `n` payload bytes: a recognisable pattern. */
function guestCommand(n: number): Buffer {
  const b = Buffer.alloc(VSCARD_HEADER_BYTES + n);
  b.writeUInt32BE(7, 0);
  b.writeUInt32BE(0, 4);
  b.writeUInt32BE(n, 8);
  for (let i = 0; i < n; i++) b[VSCARD_HEADER_BYTES + i] = (i * 31 + 7) & 0xff;
  return b;
}

async function openSession() {
  const browser = await rig.open();
  const conn = await rig.vm.nextConnection(0);
  browser.send(INIT);
  await browser.frame(0); // the host's Init ack
  await conn.waitFor(() => conn.messages.length === 1);
  return { b: browser, conn };
}

it('exports the two frame limits', () => {
  expect(MAX_FRAME_BYTES).toBe(12 + VSCARD_MAX_PAYLOAD_BYTES);
  expect(MAX_FRAME_TO_BROWSER_BYTES).toBe(12 + VSCARD_MAX_GUEST_COMMAND_BYTES);
  expect(MAX_FRAME_TO_BROWSER_BYTES - MAX_FRAME_BYTES).toBe(2);
});

it('relays a 65 526-byte guest command whole, in one frame, sent in pieces by the VM', async () => {
  const { b, conn } = await openSession();
  const cmd = guestCommand(VSCARD_MAX_GUEST_COMMAND_BYTES);
  // QEMU's writes arrive in pieces: split at awkward places.
  conn.socket.write(cmd.subarray(0, 5));
  await sleep(20);
  conn.socket.write(cmd.subarray(5, 40_000));
  await sleep(20);
  conn.socket.write(cmd.subarray(40_000));
  const frame = await b.frame(1);
  expect(frame.length).toBe(12 + 65_526);
  expect(Buffer.compare(frame, cmd)).toBe(0);
  // The browser's answer reaches the VM and the session stays up.
  b.send(msg(7, 0, '9000'));
  await conn.waitFor(() => conn.messages.length === 2);
  expect(conn.messages[1]?.payload.toString('hex')).toBe('9000');
  expect(rig.relay.sessions.get('default')?.phase).toBe('open');
  expect(rig.relay.sessions.get('default')?.outstandingGuestCommands).toBe(0);
});

it('still closes with VM_PROTOCOL one byte beyond the largest guest command', async () => {
  const { b, conn } = await openSession();
  const header = Buffer.alloc(12);
  header.writeUInt32BE(7, 0);
  header.writeUInt32BE(VSCARD_MAX_GUEST_COMMAND_BYTES + 1, 8);
  conn.socket.write(header);
  const closed = await b.closed;
  expect(closed.code).toBe(RelayClose.VM_PROTOCOL);
  expect(b.frames.length).toBe(1);
});

it('keeps the browser → VM direction at 65 524 payload bytes', async () => {
  const { b, conn } = await openSession();
  // 65 524 passes…
  b.send(guestCommand(VSCARD_MAX_PAYLOAD_BYTES));
  await conn.waitFor(() => conn.messages.length === 2);
  expect(conn.messages[1]?.payload.length).toBe(VSCARD_MAX_PAYLOAD_BYTES);
  // …65 526 (what QEMU may send the other way) does not, and none of it reaches the VM.
  b.send(guestCommand(VSCARD_MAX_GUEST_COMMAND_BYTES));
  const closed = await b.closed;
  expect([RelayClose.MESSAGE_TOO_BIG, RelayClose.BAD_FRAME]).toContain(closed.code);
  await conn.waitFor(() => conn.isEnded, 3000, 'FIN');
  expect(conn.messages.map((m) => m.type)).toEqual([1, 7, 6, 4]);
});

it('a parked dial-in VM connection answers a 65 526-byte guest command and refuses a larger one', async () => {
  const events: DialInEvent[] = [];
  const port = new DialInPort({
    listen: { host: '127.0.0.1', port: 0 },
    onEvent: (e) => events.push(e),
  });
  await port.start();
  try {
    const vm = net.connect({ host: '127.0.0.1', port: port.port });
    vm.on('error', () => {});
    let received = Buffer.alloc(0);
    vm.on('data', (c: Buffer) => (received = Buffer.concat([received, c])));
    const closed = new Promise<void>((resolve) => vm.once('close', () => resolve()));
    // The arrival cleanup: CardRemove + ReaderRemove (2 × 12 bytes).
    await until(() => received.length >= 24, 3000, 'arrival cleanup');
    expect([received.readUInt32BE(0), received.readUInt32BE(12)]).toEqual([6, 4]);
    vm.write(guestCommand(VSCARD_MAX_GUEST_COMMAND_BYTES));
    await until(() => received.length >= 24 + 16, 3000, 'Error answer');
    expect(received.readUInt32BE(24)).toBe(2); // VSC_Error
    expect(events.filter((e) => e.kind === 'parked-guest-command-answered')).toHaveLength(1);
    expect(port.isVmWaiting).toBe(true);
    const header = Buffer.alloc(12);
    header.writeUInt32BE(7, 0);
    header.writeUInt32BE(VSCARD_MAX_GUEST_COMMAND_BYTES + 1, 8);
    vm.write(header);
    await closed;
    expect(events.some((e) => e.kind === 'vm-refused' && e.reason === 'not VSCard')).toBe(true);
  } finally {
    await port.close();
  }
});
