/**
 * Native clients (issue 12, the `cardlend` command line): a WebSocket client that sends no
 * Origin header — browsers always send one — is admitted under the same token rules as the
 * page; a browser from a page that is not allowed stays refused.
 */
import { RelayClose, relaySubprotocols } from '@cardlend/vscard/relay-contract';
import { describe, expect, it } from 'vitest';
import { originStep } from '../src/admission/steps.ts';
import type { Admitted, AdmissionIo } from '../src/admission/types.ts';
import { createOriginPolicy } from '../src/auth/origin.ts';
import { mintToken } from '../src/auth/tokens.ts';
import { type Browser, msg } from './helpers.ts';
import { fakeVmRigPerTest } from './relay-rig.ts';

const SECRET = Uint8Array.from(Buffer.from('n'.repeat(40)));
const INIT = msg(1, 0, '56534344 00000002 00000000');
const token = (secret = SECRET) =>
  mintToken({ secret, targetId: 'default', ttlSeconds: 60, nowMs: Date.now() });

const rig = fakeVmRigPerTest({}, () => ({
  config: {
    tokenSecrets: [SECRET],
    authTimeoutMs: 300,
    allowedOrigins: ['https://help.example.com'],
  },
}));

const connect = (protocols: string[], origin?: string): Browser =>
  rig.connect(protocols, origin === undefined ? {} : { origin });

describe('a client without Origin (native)', () => {
  it('with a valid token gets a session, like the page', async () => {
    const c = connect(relaySubprotocols(token()));
    await c.opened;
    expect(c.ws.protocol).toBe('cardlend.vscard.v1');
    c.send(INIT);
    expect((await c.frame(0)).readUInt32BE(0)).toBe(1);
    expect(rig.vm.connections).toHaveLength(1);
  });

  it.each<[string, () => string[], number]>([
    ['no token', () => relaySubprotocols(), RelayClose.AUTH_TIMEOUT],
    ['a forged token', () => relaySubprotocols(token(new Uint8Array(40))), RelayClose.UNAUTHORIZED],
    ['a damaged token', () => relaySubprotocols('v1.nope'), RelayClose.UNAUTHORIZED],
  ])('with %s is refused like the page, and no VM is contacted', async (_name, protocols, code) => {
    const c = connect(protocols());
    expect((await c.closed).code).toBe(code);
    expect(rig.vm.connections).toHaveLength(0);
  });
});

describe('a browser', () => {
  it('from a page not allowed is refused before its token is looked at', async () => {
    const t = token();
    const evil = connect(relaySubprotocols(t), 'https://evil.example');
    expect((await evil.closed).code).toBe(RelayClose.ORIGIN_REFUSED);
    // The one-time token was not spent: the allowed page can still use it.
    const page = connect(relaySubprotocols(t), 'https://help.example.com');
    await page.opened;
    page.send(INIT);
    expect((await page.frame(0)).readUInt32BE(0)).toBe(1);
  });
});

describe('the origin step on a public listener', () => {
  const step = originStep(createOriginPolicy({ isLoopbackListener: false }));
  const io = {} as AdmissionIo; // the origin step asks nothing of the connection
  const admitted = (origin: string | undefined): Admitted => ({
    client: {
      clientAddress: '192.0.2.7',
      remote: '192.0.2.7:5',
      origin,
      host: 'relay.example.net',
      isResumeCapable: false,
    },
    targetId: 'default',
  });

  it.each<[string | undefined, number | undefined]>([
    [undefined, undefined],
    ['https://relay.example.net', undefined],
    ['https://evil.example', RelayClose.ORIGIN_REFUSED],
    ['null', RelayClose.ORIGIN_REFUSED],
  ])('Origin %j → %s', async (origin, code) => {
    const verdict = await step(admitted(origin), io);
    expect(verdict.ok ? undefined : verdict.refusal?.code).toBe(code);
  });
});
