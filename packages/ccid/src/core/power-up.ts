import type { ParsedAtr } from './atr.ts';
import { parseAtr } from './atr.ts';
import { CcidFeature, IccStatus } from './constants.ts';
import type { CcidClassDescriptor, ExchangeLevel } from './descriptors.ts';
import { effectiveIfsd, maxXfrBlockDataBytes } from './descriptors.ts';
import { CcidError } from './errors.ts';
import type { CcidResponse } from './messages.ts';
import { PowerOnSequence } from './power-on.ts';
import type { PowerSelect } from './power-on.ts';
import { verifyPpsResponse } from './pps.ts';
import type { ProtocolPlan } from './protocol-plan.ts';
import { planProtocol } from './protocol-plan.ts';
import { cardAbsentError, isTerminalError } from './reader-errors.ts';
import { T1Session } from './t1.ts';

/** A command the power-up sends to its slot (the adapter adds bSlot and bSeq). */
export type PowerUpCommand =
  | { type: 'IccPowerOn'; powerSelect: PowerSelect }
  | { type: 'IccPowerOff' }
  /** The PPS request, sent by the host itself (TPDU reader without 0x80/0x40). */
  | { type: 'XfrBlock'; bwi: 0; levelParameter: 0; data: Uint8Array }
  | { type: 'SetParameters'; protocolNum: 0 | 1; data: Uint8Array };

/** The card is powered and configured. */
export interface PoweredCard {
  atr: Uint8Array;
  atrInfo: ParsedAtr;
  protocol: 0 | 1;
  /** The T=1 block engine when the host speaks T=1 (TPDU level). */
  t1: T1Session | undefined;
}

/** What the power-up wants next; `note` is a diagnostic for the log. */
export type PowerUpAction = { note?: string } & (
  | { type: 'command'; command: PowerUpCommand }
  /** Run `t1.negotiateIfsd(ifsd)` to its end, then call {@link PowerUp.onIfsdResult}. */
  | { type: 'negotiate-ifsd'; t1: T1Session; ifsd: number }
  | { type: 'done'; card: PoweredCard }
);

/** Options of {@link PowerUp}. */
export interface PowerUpOptions {
  descriptor: CcidClassDescriptor;
  /** Exchange level the driver uses (character level: no PPS, ccid.md §15.4). */
  level: ExchangeLevel;
  slot: number;
  /** Protocol to prefer when the card offers both. */
  preferredProtocol?: 0 | 1 | undefined;
  /** T=1 CRC flavour for cards whose ATR selects CRC (default 'libccid'). */
  t1CrcVariant?: 'libccid' | 'iso13239' | undefined;
}

type Phase = 'power-on' | 'pps' | 'pps-reset-off' | 'pps-reset-on' | 'set-parameters' | 'ifsd';

/**
 * Power-up of one slot as libccid does it (ccid.md §11, §15.4), without I/O: IccPowerOn with the
 * voltage sequence ({@link PowerOnSequence}), ATR, protocol plan ({@link planProtocol}), the PPS
 * when the host must send it (a failed PPS ⇒ IccPowerOff, IccPowerOn again and the card's default
 * protocol at Fd/Dd, ISO/IEC 7816-3 §9.3), SetParameters (a refusal is logged, the reader keeps
 * its values), and for T=1 at TPDU level the T=1 engine with IFSD negotiation unless the reader
 * does it (0x400). `start()`, then `onResponse()` per answer / `onIfsdResult()`, until 'done'.
 * Throws CcidError (CCID_CARD_ABSENT, CCID_PROTOCOL, CCID_UNSUPPORTED, power-on errors).
 */
export class PowerUp {
  readonly #opts: PowerUpOptions;
  #phase: Phase = 'power-on';
  #powerOn: PowerOnSequence;
  #atr: Uint8Array = new Uint8Array(0);
  #atrInfo: ParsedAtr | undefined;
  #plan: ProtocolPlan | undefined;
  #t1: T1Session | undefined;

  constructor(opts: PowerUpOptions) {
    this.#opts = opts;
    this.#powerOn = new PowerOnSequence({ descriptor: opts.descriptor, slot: opts.slot });
  }

  start(): PowerUpAction {
    return this.#iccPowerOn(this.#powerOn.start().powerSelect);
  }

  /** Feeds the reader's answer to the last command. */
  onResponse(r: CcidResponse): PowerUpAction {
    switch (this.#phase) {
      case 'power-on':
      case 'pps-reset-on': {
        const step = this.#powerOn.onResponse(r);
        return step.type === 'send' ? this.#iccPowerOn(step.powerSelect) : this.#onAtr(step.atr);
      }
      case 'pps':
        return this.#onPps(r);
      case 'pps-reset-off':
        this.#phase = 'pps-reset-on';
        this.#powerOn = new PowerOnSequence({
          descriptor: this.#opts.descriptor,
          slot: this.#opts.slot,
        });
        return this.#iccPowerOn(this.#powerOn.start().powerSelect);
      case 'set-parameters':
        return this.#onSetParameters(r);
      case 'ifsd':
        throw new CcidError('CCID_PROTOCOL', 'power-up: no command in flight');
    }
  }

  /** IFSD negotiation ended (`error` when it failed): terminal errors end the power-up, others keep IFSD 32. */
  onIfsdResult(error?: unknown): PowerUpAction {
    if (error === undefined) return this.#done();
    if (isTerminalError(error)) throw error;
    this.#t1?.reset();
    return this.#done('IFSD negotiation failed; keeping IFSD 32');
  }

  #iccPowerOn(powerSelect: PowerSelect): PowerUpAction {
    return { type: 'command', command: { type: 'IccPowerOn', powerSelect } };
  }

  #onAtr(atr: Uint8Array): PowerUpAction {
    const d = this.#opts.descriptor;
    const info = parseAtr(atr);
    this.#atr = atr;
    this.#atrInfo = info;
    if (this.#phase === 'pps-reset-on') {
      const plan = planProtocol({
        atr: info,
        descriptor: d,
        isPpsDisabled: true,
        preferredProtocol: info.defaultProtocol as 0 | 1,
      });
      if (plan.protocol !== info.defaultProtocol)
        throw new CcidError('CCID_PROTOCOL', `PPS to T=${plan.protocol} refused by the card`);
      this.#plan = plan;
      return this.#afterPps();
    }
    this.#plan = planProtocol({
      atr: info,
      descriptor: d,
      // Character level would need byte-by-byte PPS (wLevelParameter = answer length): not done; the card stays at Fd/Dd.
      isPpsDisabled: this.#opts.level === 'character',
      ...(this.#opts.preferredProtocol === undefined
        ? {}
        : { preferredProtocol: this.#opts.preferredProtocol }),
    });
    if (!this.#plan.pps) return this.#afterPps();
    this.#phase = 'pps';
    const pps = this.#plan.pps;
    return { type: 'command', command: { type: 'XfrBlock', bwi: 0, levelParameter: 0, data: pps } };
  }

  #onPps(r: CcidResponse): PowerUpAction {
    const pps = this.#plan!.pps!;
    const v =
      r.commandStatus === 0
        ? verifyPpsResponse(pps, r.data)
        : { ok: false as const, reason: `bError 0x${r.bError.toString(16)}` };
    if (v.ok) return this.#afterPps();
    // ISO 7816-3 §9.3: failed PPS ⇒ reset and continue at the card's default protocol and Fd/Dd.
    this.#phase = 'pps-reset-off';
    return {
      type: 'command',
      command: { type: 'IccPowerOff' },
      note: `PPS failed (${v.reason}); resetting the card`,
    };
  }

  #afterPps(): PowerUpAction {
    const sp = this.#plan!.setParameters;
    if (!sp) return this.#t1Setup();
    this.#phase = 'set-parameters';
    return {
      type: 'command',
      command: { type: 'SetParameters', protocolNum: sp.protocolNum, data: sp.data },
    };
  }

  #onSetParameters(r: CcidResponse): PowerUpAction {
    if (r.commandStatus !== 1) return this.#t1Setup();
    if (r.iccStatus === IccStatus.Absent) throw cardAbsentError(this.#opts.slot);
    // bError 0 = not supported, 1..0x7F = that field can't be changed: the reader keeps its own values (libccid SetParameters()).
    return this.#t1Setup(`SetParameters refused, bError 0x${r.bError.toString(16)}`);
  }

  #t1Setup(note?: string): PowerUpAction {
    const plan = this.#plan!;
    if (plan.protocol !== 1 || plan.level !== 'tpdu') return this.#done(note);
    const d = this.#opts.descriptor;
    const t1Params = this.#atrInfo!.t1;
    // A block is NAD PCB LEN + INF + EDC: keep it within the reader's XfrBlock limit even when
    // IFSC is larger (chaining then uses shorter I-blocks).
    const blockOverhead = 3 + (t1Params.edc === 'crc' ? 2 : 1);
    const maxSendInf = maxXfrBlockDataBytes(d.dwMaxCCIDMessageLength, 'other') - blockOverhead;
    this.#t1 = new T1Session({
      ifsc: t1Params.ifsc,
      ifsd: (d.dwFeatures & CcidFeature.AutoIfsd) !== 0 ? effectiveIfsd(d.dwMaxIFSD) : 32,
      edc: t1Params.edc,
      crcVariant: this.#opts.t1CrcVariant ?? 'libccid',
      ...(maxSendInf < 254 ? { maxSendInf: Math.max(1, maxSendInf) } : {}),
    });
    if (plan.negotiateIfsd === undefined) return this.#done(note);
    this.#phase = 'ifsd';
    const action: PowerUpAction = {
      type: 'negotiate-ifsd',
      t1: this.#t1,
      ifsd: plan.negotiateIfsd,
    };
    return note === undefined ? action : { ...action, note };
  }

  #done(note?: string): PowerUpAction {
    const card: PoweredCard = {
      atr: this.#atr,
      atrInfo: this.#atrInfo!,
      protocol: this.#plan!.protocol,
      t1: this.#t1,
    };
    return note === undefined ? { type: 'done', card } : { type: 'done', card, note };
  }
}
