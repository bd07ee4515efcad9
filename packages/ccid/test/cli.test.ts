import { SimulatedReader, createT0Card, createT1Card, readerProfiles } from '@cardlend/card-sim';
import { describe, expect, it } from 'vitest';
import { runCli } from '../src/cli/cli.ts';

async function cli(
  argv: string[],
  devices: USBDevice[],
): Promise<{ code: number; out: string[]; err: string[] }> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await runCli(argv, {
    getDevices: async () => devices,
    stdout: (l) => out.push(l),
    stderr: (l) => err.push(l),
  });
  return { code, out, err };
}

describe('ccid CLI over card-sim devices (in place of node-usb)', () => {
  it('lists readers and interfaces', async () => {
    const a = new SimulatedReader({ profile: readerProfiles.shortApdu });
    const b = new SimulatedReader({ profile: readerProfiles.vendorClass });
    const r = await cli(['list'], [a.device, b.device]);
    expect(r.code).toBe(0);
    expect(r.out[0]).toMatch(/^\[0\] [0-9a-f]{4}:[0-9a-f]{4}/);
    expect(r.out.join('\n')).toContain('short-apdu');
    expect(r.out.join('\n')).toContain('class 0xff, tpdu, T=0+T=1');
  });
  it('prints the ATR; class 0x0B is allowed in Node', async () => {
    const sim = new SimulatedReader({ profile: readerProfiles.tpduT1NoAuto });
    const card = createT1Card();
    sim.insertCard(card);
    const r = await cli(['atr'], [sim.device]);
    expect(r.err).toEqual([]);
    expect(r.out).toEqual([
      `ATR ${Buffer.from(card.atr)
        .toString('hex')
        .toUpperCase()
        .replace(/(..)(?!$)/g, '$1 ')}`,
      'protocol T=1',
    ]);
  });
  it('sends APDUs and prints responses', async () => {
    const sim = new SimulatedReader({ profile: readerProfiles.packet16 });
    sim.insertCard(createT0Card());
    const r = await cli(['apdu', '00A4040000', '0040 6A82', '--timeout', '500'], [sim.device]);
    expect(r.code).toBe(0);
    expect(r.out.slice(2)).toEqual(['> 00 A4 04 00 00', '< 90 00', '> 00 40 6A 82', '< 6A 82']);
  });
  it('typed errors become exit code 1 with the catalog hint', async () => {
    const sim = new SimulatedReader({ profile: readerProfiles.shortApdu });
    const r = await cli(['atr', '--timeout', '200'], [sim.device]);
    expect(r.code).toBe(1);
    expect(r.err[0]).toMatch(/^CCID_CARD_ABSENT/);
    expect(r.err[1]).toBe('Insert a card.');
  });
  it('usage errors exit 2', async () => {
    expect((await cli(['frobnicate'], [])).code).toBe(2);
    expect((await cli(['apdu'], [])).code).toBe(2);
    expect((await cli(['atr', '--reader', 'x'], [])).code).toBe(2);
    expect((await cli(['atr', '--reader', '3'], [])).code).toBe(1);
  });
});
