/**
 * The admission runner (admission/pipeline.ts) on its own, with stand-in steps: steps run in
 * order, each sees what the earlier ones established, and whatever was held is released
 * exactly once when a step refuses, the client leaves, or a step throws.
 */
import { RelayClose } from '@cardlend/vscard/relay-contract';
import { describe, expect, it } from 'vitest';
import { NO_OFFERED_TOKEN } from '../src/admission/offer.ts';
import { releaseAdmitted, runAdmission } from '../src/admission/pipeline.ts';
import { refusalOf } from '../src/admission/steps.ts';
import {
  admit,
  refuse,
  type AdmissionIo,
  type AdmissionStep,
  type Refusal,
} from '../src/admission/types.ts';
import type { SessionSlot } from '../src/limits/session-caps.ts';

const CLIENT = {
  clientAddress: '127.0.0.1',
  remote: '127.0.0.1:5',
  origin: undefined,
  host: 'x',
  isResumeCapable: false,
};

function io(
  abort = new AbortController(),
  refusedFromOutside?: Refusal,
): AdmissionIo & { refusedFromOutside: Refusal | undefined } {
  return {
    signal: abort.signal,
    refusedFromOutside,
    firstMessage: () => Promise.resolve('gone'),
    hold: () => {},
    now: () => 0,
    offeredToken: () => NO_OFFERED_TOKEN,
  };
}

/** A step that takes a session-cap slot and counts its releases. */
function holding(): { step: AdmissionStep; releases: () => number } {
  let n = 0;
  const cap: SessionSlot = { release: () => n++ };
  return { step: (a) => admit({ ...a, cap }), releases: () => n };
}

describe('runAdmission', () => {
  it('runs the steps in order, each seeing what the earlier ones established', async () => {
    const seen: string[] = [];
    const named =
      (id: string): AdmissionStep =>
      (a) => {
        seen.push(`${a.targetId}→${id}`);
        return admit({ ...a, targetId: id });
      };
    const result = await runAdmission([named('a'), named('b'), named('c')], CLIENT, 'd', io());
    expect(seen).toEqual(['d→a', 'a→b', 'b→c']);
    expect(result.ok && result.admitted.targetId).toBe('c');
  });

  const vmInUse = refusalOf('vm-in-use');
  it.each<[string, (abort: AbortController) => AdmissionStep, Refusal | undefined]>([
    ['a step refuses', () => () => refuse(vmInUse), vmInUse],
    [
      'the client leaves while a step waits',
      (abort) => () => (abort.abort(), refuse(undefined)),
      undefined,
    ],
    [
      'the client leaves while a step admits',
      (abort) => (a) => (abort.abort(), admit(a)),
      undefined,
    ],
  ])('%s: held resources are released once', async (_name, make, refusal) => {
    const abort = new AbortController();
    const held = holding();
    const never: AdmissionStep = () => {
      throw new Error('runs after a refusal');
    };
    const result = await runAdmission([held.step, make(abort), never], CLIENT, 'd', io(abort));
    expect(result).toMatchObject({ ok: false, refusal });
    expect(held.releases()).toBe(1);
  });

  it('a refusal decided by the connection itself (a flood) wins once it aborted', async () => {
    const abort = new AbortController();
    const flood = refusalOf('message-rate');
    const step: AdmissionStep = () => (abort.abort(), refuse(undefined));
    const result = await runAdmission([step], CLIENT, 'd', io(abort, flood));
    expect(result).toMatchObject({ ok: false, refusal: { code: RelayClose.RATE_LIMITED } });
  });

  it('a step that throws releases what was held and rethrows', async () => {
    const held = holding();
    const broken: AdmissionStep = () => {
      throw new Error('bug');
    };
    await expect(runAdmission([held.step, broken], CLIENT, 'd', io())).rejects.toThrow('bug');
    expect(held.releases()).toBe(1);
  });

  it('releaseAdmitted frees everything admission can hold', () => {
    const calls: string[] = [];
    releaseAdmitted({
      client: CLIENT,
      targetId: 'd',
      cap: { release: () => calls.push('cap') },
      lease: { release: () => calls.push('lease') },
    });
    expect(calls.sort()).toEqual(['cap', 'lease']);
  });
});
