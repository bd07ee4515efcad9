import type {
  CcidInterfaceInfo,
  CcidResponse,
  PoweredCard,
  T1Action,
  T1Session,
  XfrPayloadKind,
} from '../core/index.ts';
import {
  CcidError,
  ExtendedApduExchange,
  PowerUp,
  T0Exchange,
  assertXfrBlockFits,
  isCcidError,
  t1BlockResult,
  t1BlockXfr,
  xfrBlockError,
} from '../core/index.ts';
import type { CcidTransport, CommandWithoutSeq } from './transport.ts';

/** Options of {@link SlotRunner}. */
export interface SlotRunnerOptions {
  transport: CcidTransport;
  /** The claimed interface. */
  interfaceInfo: CcidInterfaceInfo;
  /** Answer timeout per command, ms. */
  timeoutMs: number;
  /** Timeout of IccPowerOn, ms. Default max(timeoutMs, 10000). */
  powerOnTimeoutMs?: number | undefined;
  maxTimeExtensions?: number | undefined;
  preferredProtocol?: 0 | 1 | undefined;
  t1CrcVariant?: 'libccid' | 'iso13239' | undefined;
  /** Diagnostics of the planners (PPS fallback, SetParameters refused, IFSD kept). */
  onNote: (message: string) => void;
}

/** One XfrBlock as the reader sends it. */
interface Xfr {
  slot: number;
  data: Uint8Array;
  signal: AbortSignal | undefined;
  bwi?: number;
  levelParameter?: number;
  timeoutMs?: number;
  kind?: XfrPayloadKind;
}

/**
 * Runs the pure planners of the core over the transport for one command at a time: power-up
 * ({@link PowerUp}), APDUs by exchange level and protocol ({@link T0Exchange}, T1Session,
 * {@link ExtendedApduExchange}), with XfrBlock limits and reader-error mapping from the core.
 * Holds no slot state; CcidReader serialises calls per slot.
 */
export class SlotRunner {
  readonly #o: SlotRunnerOptions;
  readonly #iface: CcidInterfaceInfo;
  readonly #timeoutMs: number;

  constructor(opts: SlotRunnerOptions) {
    this.#o = opts;
    this.#iface = opts.interfaceInfo;
    this.#timeoutMs = opts.timeoutMs;
  }

  /**
   * One APDU to a powered card: T=1 blocks at TPDU level, extended-APDU chaining, else XfrBlocks
   * of whole APDUs or T=0 TPDUs, with 61xx/6Cxx handled for T=0 at every level.
   */
  async transmit(
    slot: number,
    card: PoweredCard,
    apdu: Uint8Array,
    signal: AbortSignal | undefined,
  ): Promise<Uint8Array> {
    const level = this.#iface.exchangeLevel;
    if (level === 'character')
      throw new CcidError('CCID_UNSUPPORTED', 'character-level readers are not supported');
    if (level === 'tpdu' && card.protocol === 1)
      return await this.#runT1(slot, card.t1!, card.t1!.transmit(apdu), signal);
    const send =
      level === 'extended-apdu'
        ? (c: Uint8Array): Promise<Uint8Array> => this.#xfrExtended(slot, c, signal)
        : async (c: Uint8Array): Promise<Uint8Array> =>
            (
              await this.#xfrData({ slot, data: c, signal, kind: 't0-tpdu-or-short-apdu' })
            ).data.slice();
    if (card.protocol === 1) return await send(apdu);
    const t0 = new T0Exchange(apdu, { mode: level === 'tpdu' ? 'tpdu' : 'apdu' });
    let action = t0.start();
    while (action.type === 'send') action = t0.onResponse(await send(action.command));
    return action.response;
  }

  /** One command through the transport (its promise as it is: no async step of its own). */
  cmd(
    cmd: CommandWithoutSeq,
    opts: { signal?: AbortSignal | undefined; timeoutMs?: number } = {},
  ): Promise<CcidResponse> {
    return this.#o.transport.exchange(cmd, {
      timeoutMs: opts.timeoutMs ?? this.#timeoutMs,
      signal: opts.signal,
      maxTimeExtensions: this.#o.maxTimeExtensions,
    });
  }

  /** Runs the pure {@link PowerUp} planner over the transport. */
  async powerUp(slot: number, signal: AbortSignal | undefined): Promise<PoweredCard> {
    const up = new PowerUp({
      descriptor: this.#iface.descriptor,
      level: this.#iface.exchangeLevel,
      slot,
      preferredProtocol: this.#o.preferredProtocol,
      t1CrcVariant: this.#o.t1CrcVariant,
    });
    const powerOnTimeoutMs = this.#o.powerOnTimeoutMs ?? Math.max(this.#timeoutMs, 10000);
    for (let action = up.start(); ;) {
      if (action.note !== undefined) this.#o.onNote(action.note);
      if (action.type === 'done') return action.card;
      if (action.type === 'negotiate-ifsd') {
        const { t1, ifsd } = action;
        const error = await this.#runT1(slot, t1, t1.negotiateIfsd(ifsd), signal).then(
          () => undefined,
          (e: unknown) => e ?? new Error('IFSD negotiation failed'),
        );
        action = up.onIfsdResult(error);
        continue;
      }
      const c = action.command;
      if (c.type === 'XfrBlock')
        assertXfrBlockFits(c.data.length, this.#iface.maxMessageLength, 'other');
      const timeoutMs = c.type === 'IccPowerOn' ? powerOnTimeoutMs : this.#timeoutMs;
      action = up.onResponse(await this.cmd({ ...c, slot }, { signal, timeoutMs }));
    }
  }

  /** One XfrBlock within the reader's message limit (throws at once when it does not fit). */
  #xfr(x: Xfr): Promise<CcidResponse> {
    assertXfrBlockFits(x.data.length, this.#iface.maxMessageLength, x.kind ?? 'other');
    const cmd = {
      type: 'XfrBlock' as const,
      slot: x.slot,
      bwi: x.bwi ?? 0,
      levelParameter: x.levelParameter ?? 0,
      data: x.data,
    };
    return this.cmd(cmd, { signal: x.signal, timeoutMs: x.timeoutMs ?? this.#timeoutMs });
  }

  /** One XfrBlock whose failure is an error (APDU levels, T=0 TPDUs). */
  async #xfrData(x: Xfr): Promise<CcidResponse> {
    const r = await this.#xfr(x);
    if (r.commandStatus !== 0) throw xfrBlockError(r, x.slot);
    return r;
  }

  /** Extended APDU level: runs the pure chaining planner (CCID rev 1.1 §6.1.4, ccid.md §7). */
  async #xfrExtended(
    slot: number,
    apdu: Uint8Array,
    signal: AbortSignal | undefined,
  ): Promise<Uint8Array> {
    const x = new ExtendedApduExchange(apdu, {
      maxMessageLength: this.#iface.maxMessageLength,
    });
    let step = x.start();
    while (step.type === 'send')
      step = x.onResponse(
        await this.#xfrData({ slot, data: step.data, levelParameter: step.levelParameter, signal }),
      );
    return step.response;
  }

  /** T=1 at TPDU level: blocks of the pure T1Session in XfrBlocks; reader errors mapped by t1BlockResult. */
  async #runT1(
    slot: number,
    t1: T1Session,
    first: T1Action,
    signal: AbortSignal | undefined,
  ): Promise<Uint8Array> {
    for (let action = first; ;) {
      if (action.type === 'deliver') return action.apdu;
      if (action.type === 'ifsd-accepted') return new Uint8Array(0);
      if (action.type === 'failed') throw action.error;
      const { bwi, timeoutScale } = t1BlockXfr(action.wtx);
      let r: CcidResponse;
      try {
        r = await this.#xfr({
          slot,
          data: action.block,
          bwi,
          signal,
          timeoutMs: this.#timeoutMs * timeoutScale,
        });
      } catch (e) {
        if (!isCcidError(e) || e.code !== 'CCID_TIMEOUT') throw e;
        action = t1.onError('timeout');
        continue;
      }
      const result = t1BlockResult(r, slot);
      if (result.type === 'fail') throw result.error;
      action = result.type === 'block' ? t1.onBlock(result.data) : t1.onError(result.kind);
    }
  }
}
