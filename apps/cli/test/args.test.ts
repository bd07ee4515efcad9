import { describe, expect, it } from 'vitest';
import { planFromArgs } from '../src/args.ts';

const LINK = 'https://relay.example/#token=tok';

describe('planFromArgs', () => {
  it.each([
    [[], { kind: 'help', topic: 'main' }],
    [['--help'], { kind: 'help', topic: 'main' }],
    [['-h'], { kind: 'help', topic: 'main' }],
    [['help', 'lend'], { kind: 'help', topic: 'lend' }],
    [['lend', '--help'], { kind: 'help', topic: 'lend' }],
    [['readers', '-h'], { kind: 'help', topic: 'readers' }],
    [['--version'], { kind: 'version' }],
    [['-v'], { kind: 'version' }],
    [['readers'], { kind: 'readers', json: false }],
    [['readers', '--json'], { kind: 'readers', json: true }],
  ])('%j → %j', (argv, plan) => {
    expect(planFromArgs(argv)).toEqual(plan);
  });

  it('lend with every option', () => {
    expect(
      planFromArgs([
        'lend',
        LINK,
        '--reader',
        'PCD 00 01',
        '--yes',
        '--json',
        '--token',
        'other',
        '--t0-compat',
        'never',
      ]),
    ).toEqual({
      kind: 'lend',
      target: { relayUrl: 'wss://relay.example/vscard', token: 'other', tokenSource: 'option' },
      readerQuery: 'PCD 00 01',
      yes: true,
      json: true,
      t0Compat: 'never',
    });
  });

  it('lend defaults; options may come before the link; -y is --yes', () => {
    expect(planFromArgs(['lend', '-y', LINK])).toEqual({
      kind: 'lend',
      target: { relayUrl: 'wss://relay.example/vscard', token: 'tok', tokenSource: 'link' },
      readerQuery: null,
      yes: true,
      json: false,
      t0Compat: 'auto',
    });
  });

  it.each([
    [['frobnicate'], 'main', /unknown command "frobnicate"/],
    [['lend'], 'lend', /needs the link/],
    [['lend', LINK, 'extra'], 'lend', /one link/],
    [['lend', LINK, '--bogus'], 'lend', /bogus/],
    [['lend', LINK, '--reader'], 'lend', /reader/],
    [['lend', LINK, '--reader', '  '], 'lend', /part of the reader name/],
    [['lend', LINK, '--t0-compat', 'sometimes'], 'lend', /auto, always or never/],
    [['readers', 'x'], 'readers', /no arguments/],
    [['readers', '--yes'], 'readers', /yes/],
  ])('%j is a usage error', (argv, topic, message) => {
    const plan = planFromArgs(argv);
    expect(plan.kind).toBe('usage-error');
    if (plan.kind === 'usage-error') {
      expect(plan.topic).toBe(topic);
      expect(plan.message).toMatch(message);
    }
  });

  it.each([
    [['lend', 'ftp://x/'], 'link-scheme', /ftp/],
    [['lend', LINK, '--token', 'a b'], 'token-chars', /only letters, digits/],
  ])('%j: the link or token cannot be used', (argv, code, message) => {
    const plan = planFromArgs(argv);
    expect(plan.kind).toBe('link-error');
    if (plan.kind === 'link-error') {
      expect(plan.problem.code).toBe(code);
      expect(plan.problem.message).toMatch(message);
    }
  });
});
