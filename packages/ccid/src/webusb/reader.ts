import type { CcidInterfaceInfo, CcidResponse, ParsedAtr, XfrPayloadKind } from '../core/index.ts';
import {
  CcidBError,
  CcidError,
  CcidFeature,
  T0Exchange,
  T1Session,
  concatBytes,
  effectiveIfsd,
  isCcidError,
  maxXfrBlockDataBytes,
  parseAtr,
  planProtocol,
  verifyPpsResponse,
} from '../core/index.ts';
import type { CcidInterruptMessage, ReaderEvent } from '../core/index.ts';
import type { ReaderInfo } from './descriptors.ts';
import {
  ccidInterfacesOf,
  ensureOpen,
  pickInterface,
  readConfigurationDescriptor,
  readerInfoOf,
} from './descriptors.ts';
import { isDisconnectError } from './platform-errors.ts';
import type { CcidLogEntry, CommandWithoutSeq } from './transport.ts';
import { CcidTransport } from './transport.ts';

export type { ReaderEvent } from '../core/index.ts';

/** Result of {@link CcidReader.powerOn}. */
export interface PowerOnResult {
  atr: Uint8Array;
  protocol: 0 | 1;
  atrInfo: ParsedAtr;
}

/** Options of {@link openReader}. */
export interface OpenReaderOptions {
  /** Interface to drive (default: the first CCID interface with bulk endpoints). */
  interfaceNumber?: number;
  /**
   * True (default) in a normal browser page, where class 0x0B interfaces can't be claimed: openReader
   * then fails with CCID_PROTECTED_CLASS before trying. Pass false in Node (`usb` package) or in an
   * Isolated Web App with `usb-unrestricted`.
   */
  isBrowserBlockingProtectedClasses?: boolean;
  onLog?: (e: CcidLogEntry) => void;
  /** Answer timeout per CCID command, ms, restarted (× multiplier) on time extension. Default 10000. */
  timeoutMs?: number;
  /** Timeout of IccPowerOn, ms. Default max(timeoutMs, 10000). */
  powerOnTimeoutMs?: number;
  /** GetSlotStatus polling period when the reader has no interrupt endpoint, ms. Default 500. */
  pollIntervalMs?: number;
  /** Protocol to prefer when the card offers both T=0 and T=1 (default: the card's default). */
  preferredProtocol?: 0 | 1;
  /** T=1 CRC flavour for cards whose ATR selects CRC (ccid.md §14.1; default 'libccid'). */
  t1CrcVariant?: 'libccid' | 'iso13239';
  /** Time-extension frames accepted per command before CCID_TIMEOUT. Default 1000. */
  maxTimeExtensions?: number;
}

interface SlotState {
  isBusy: boolean;
  internal: Promise<unknown> | undefined;
  power: { protocol: 0 | 1; t1: T1Session | undefined; atr: ParsedAtr } | undefined;
  isPresent: boolean | undefined;
}

/**
 * Opens a CCID reader over a W3C WebUSB `USBDevice` (browser, card-sim, or node-usb's WebUSB).
 * Throws CcidError: CCID_PROTECTED_CLASS (class 0x0B while the context blocks it; nothing claimed),
 * CCID_DEVICE_BUSY (open/claim failed, cause attached), CCID_NOT_CCID, CCID_READER_GONE,
 * CCID_UNSUPPORTED (ICCD over control transfers).
 */
export async function openReader(
  device: USBDevice,
  opts: OpenReaderOptions = {},
): Promise<CcidReader> {
  const didOpen = await ensureOpen(device);
  const fail = async (e: unknown): Promise<never> => {
    if (didOpen) await device.close().catch(() => undefined);
    throw e;
  };
  let interfaces: CcidInterfaceInfo[];
  let configurationValue: number;
  try {
    const cfg = await readConfigurationDescriptor(device, 0);
    configurationValue = cfg.configurationValue;
    interfaces = ccidInterfacesOf(cfg);
  } catch (e) {
    return fail(e);
  }
  const chosen = pickInterface(interfaces, opts.interfaceNumber);
  if (!chosen)
    return fail(
      new CcidError(
        'CCID_NOT_CCID',
        opts.interfaceNumber === undefined
          ? 'no CCID interface on this device'
          : `interface ${opts.interfaceNumber} is not a CCID interface`,
      ),
    );
  if (chosen.isIccdControl || !chosen.bulkIn || !chosen.bulkOut)
    return fail(new CcidError('CCID_UNSUPPORTED', 'ICCD over control transfers is not supported'));
  const isBlocking = opts.isBrowserBlockingProtectedClasses ?? true;
  if (chosen.interfaceClass === 0x0b && isBlocking) {
    return fail(
      new CcidError(
        'CCID_PROTECTED_CLASS',
        'this reader uses the protected smart-card interface class 0x0B, which the browser does not let web pages claim',
      ),
    );
  }
  try {
    if (device.configuration === null || device.configuration === undefined)
      await device.selectConfiguration(configurationValue);
    await device.claimInterface(chosen.interfaceNumber);
    if (chosen.alternateSetting !== 0)
      await device.selectAlternateInterface(chosen.interfaceNumber, chosen.alternateSetting);
  } catch (e) {
    if (isDisconnectError(e))
      return fail(new CcidError('CCID_READER_GONE', 'the reader was disconnected', { cause: e }));
    if ((e as { name?: unknown }).name === 'SecurityError' && chosen.interfaceClass === 0x0b) {
      return fail(
        new CcidError(
          'CCID_PROTECTED_CLASS',
          'the browser refused to claim the protected smart-card interface',
          { cause: e },
        ),
      );
    }
    return fail(
      new CcidError(
        'CCID_DEVICE_BUSY',
        'cannot claim the reader interface: another program or the OS driver holds it',
        { cause: e },
      ),
    );
  }
  const reader = new CcidReader(device, readerInfoOf(device, interfaces, chosen), chosen, opts);
  await reader.init();
  return reader;
}

/** One opened CCID interface. All methods reject with CcidError. */
export class CcidReader {
  readonly info: ReaderInfo;
  readonly interfaceInfo: CcidInterfaceInfo;
  readonly slotCount: number;
  readonly #device: USBDevice;
  readonly #transport: CcidTransport;
  readonly #opts: OpenReaderOptions;
  readonly #slots: SlotState[];
  readonly #listeners = new Set<(e: ReaderEvent) => void>();
  readonly #timeoutMs: number;
  #pollTimer: ReturnType<typeof setTimeout> | undefined;
  #isClosed = false;

  /** Use {@link openReader}. */
  constructor(
    device: USBDevice,
    info: ReaderInfo,
    iface: CcidInterfaceInfo,
    opts: OpenReaderOptions,
  ) {
    this.#device = device;
    this.info = info;
    this.interfaceInfo = iface;
    this.slotCount = iface.slotCount;
    this.#opts = opts;
    this.#timeoutMs = opts.timeoutMs ?? 10000;
    this.#slots = Array.from({ length: iface.slotCount }, () => ({
      isBusy: false,
      internal: undefined,
      power: undefined,
      isPresent: undefined,
    }));
    this.#transport = new CcidTransport({
      device,
      info: iface,
      onLog: opts.onLog,
      onGone: () => this.#onGone(),
      onInterrupt: (m) => this.#onInterrupt(m),
    });
  }

  /** USB transfer counters (bulk OUT, bulk IN reads issued, interrupt reads, control). */
  get stats(): Readonly<CcidTransport['stats']> {
    return this.#transport.stats;
  }

  /** @internal Called by openReader: starts the readers and syncs with the reader (stale frames are dropped by bSeq). */
  async init(): Promise<void> {
    this.#transport.start();
    // libccid CreateChannelByNameOrChannel(): a GetSlotStatus first; retried with a short timeout to resync.
    for (let i = 0; i < 3; i++) {
      try {
        const r = await this.#transport.exchange(
          { type: 'GetSlotStatus', slot: 0 },
          { timeoutMs: i === 0 ? Math.min(this.#timeoutMs, 3000) : 500 },
        );
        this.#slots[0]!.isPresent = r.iccStatus !== 2;
        break;
      } catch (e) {
        if (isCcidError(e) && e.code === 'CCID_READER_GONE') throw e;
      }
    }
  }

  /** Presence/power of a slot via GetSlotStatus (CCID rev 1.1 §6.1.3). */
  async getSlotStatus(slot = 0): Promise<'active' | 'inactive' | 'absent'> {
    return this.#withSlot(slot, async () => {
      const r = await this.#cmd({ type: 'GetSlotStatus', slot });
      return this.#statusOf(slot, r);
    });
  }

  /**
   * Powers the card on (IccPowerOn with voltage fallback, ccid.md §6.3), parses the ATR, then does
   * PPS / SetParameters / IFSD exactly as the reader's features require (ccid.md §11, §15.4).
   */
  async powerOn(slot = 0, opts: { signal?: AbortSignal } = {}): Promise<PowerOnResult> {
    return this.#withSlot(slot, async () => {
      const state = this.#slots[slot]!;
      state.power = undefined;
      let atrBytes = await this.#iccPowerOn(slot, opts.signal);
      let atr = parseAtr(atrBytes);
      const d = this.interfaceInfo.descriptor;
      let plan = planProtocol({
        atr,
        descriptor: d,
        // Character level would need byte-by-byte PPS (wLevelParameter = answer length): not done; the card stays at Fd/Dd.
        isPpsDisabled: this.interfaceInfo.exchangeLevel === 'character',
        ...(this.#opts.preferredProtocol === undefined
          ? {}
          : { preferredProtocol: this.#opts.preferredProtocol }),
      });
      if (plan.pps) {
        const r = await this.#xfr(slot, plan.pps, 0, 0, opts.signal);
        const v =
          r.commandStatus === 0
            ? verifyPpsResponse(plan.pps, r.data)
            : { ok: false as const, reason: `bError 0x${r.bError.toString(16)}` };
        if (!v.ok) {
          // ISO 7816-3 §9.3: failed PPS ⇒ reset and continue at the card's default protocol and Fd/Dd.
          this.#log(`PPS failed (${v.reason}); resetting the card`);
          await this.#cmd({ type: 'IccPowerOff', slot }, opts.signal);
          atrBytes = await this.#iccPowerOn(slot, opts.signal);
          atr = parseAtr(atrBytes);
          plan = planProtocol({
            atr,
            descriptor: d,
            isPpsDisabled: true,
            preferredProtocol: atr.defaultProtocol as 0 | 1,
          });
          if (plan.protocol !== atr.defaultProtocol)
            throw new CcidError('CCID_PROTOCOL', `PPS to T=${plan.protocol} refused by the card`);
        }
      }
      if (plan.setParameters) {
        const r = await this.#cmd(
          {
            type: 'SetParameters',
            slot,
            protocolNum: plan.setParameters.protocolNum,
            data: plan.setParameters.data,
          },
          opts.signal,
        );
        if (r.commandStatus === 1) {
          if (r.iccStatus === 2) throw this.#absent(slot);
          // bError 0 = not supported, 1..0x7F = that field can't be changed: the reader keeps its own values (libccid SetParameters()).
          this.#log(`SetParameters refused, bError 0x${r.bError.toString(16)}`);
        }
      }
      let t1: T1Session | undefined;
      if (plan.protocol === 1 && plan.level === 'tpdu') {
        const isAutoIfsd = (d.dwFeatures & CcidFeature.AutoIfsd) !== 0;
        // A block is NAD PCB LEN + INF + EDC: keep it within the reader's XfrBlock limit even
        // when IFSC is larger (chaining then uses shorter I-blocks).
        const blockOverhead = 3 + (atr.t1.edc === 'crc' ? 2 : 1);
        const maxSendInf = maxXfrBlockDataBytes(d.dwMaxCCIDMessageLength, 'other') - blockOverhead;
        t1 = new T1Session({
          ifsc: atr.t1.ifsc,
          ifsd: isAutoIfsd ? effectiveIfsd(d.dwMaxIFSD) : 32,
          edc: atr.t1.edc,
          crcVariant: this.#opts.t1CrcVariant ?? 'libccid',
          ...(maxSendInf < 254 ? { maxSendInf: Math.max(1, maxSendInf) } : {}),
        });
        if (plan.negotiateIfsd !== undefined) {
          try {
            await this.#runT1(slot, t1, t1.negotiateIfsd(plan.negotiateIfsd), opts.signal);
          } catch (e) {
            if (
              isCcidError(e) &&
              (e.code === 'CCID_CARD_ABSENT' ||
                e.code === 'CCID_READER_GONE' ||
                e.code === 'CCID_ABORTED' ||
                e.code === 'CCID_CLOSED')
            )
              throw e;
            this.#log('IFSD negotiation failed; keeping IFSD 32');
            t1.reset();
          }
        }
      }
      state.power = { protocol: plan.protocol, t1, atr };
      state.isPresent = true;
      return { atr: atrBytes, protocol: plan.protocol, atrInfo: atr };
    });
  }

  /** Powers the card off (IccPowerOff, CCID rev 1.1 §6.1.2). */
  async powerOff(slot = 0): Promise<void> {
    await this.#withSlot(slot, async () => {
      this.#slots[slot]!.power = undefined;
      await this.#cmd({ type: 'IccPowerOff', slot });
    });
  }

  /**
   * Sends a command APDU and returns the whole response APDU, SW1 SW2 included (status words are
   * data). T=0: 61xx/6Cxx handled at every level; T=1 on TPDU readers: block protocol; extended
   * APDU readers: chaining (CCID rev 1.1 §6.1.4). Rejects CCID_BUSY if the slot is in use.
   */
  async transmit(
    apdu: Uint8Array,
    opts: { slot?: number; signal?: AbortSignal } = {},
  ): Promise<Uint8Array> {
    const slot = opts.slot ?? 0;
    return this.#withSlot(slot, async () => {
      const power = this.#slots[slot]!.power;
      if (!power)
        throw new CcidError(
          'CCID_NOT_POWERED',
          `slot ${slot} is not powered; call powerOn() first`,
        );
      const level = this.interfaceInfo.exchangeLevel;
      const signal = opts.signal;
      if (level === 'character')
        throw new CcidError('CCID_UNSUPPORTED', 'character-level readers are not supported');
      if (level === 'tpdu' && power.protocol === 1) {
        const t1 = power.t1!;
        return this.#runT1(slot, t1, t1.transmit(apdu), signal);
      }
      const send =
        level === 'extended-apdu'
          ? (c: Uint8Array): Promise<Uint8Array> => this.#xfrExtended(slot, c, signal)
          : async (c: Uint8Array): Promise<Uint8Array> =>
              (await this.#xfrData(slot, c, signal, 0, 't0-tpdu-or-short-apdu')).data.slice();
      if (power.protocol === 1) return send(apdu);
      const t0 = new T0Exchange(apdu, { mode: level === 'tpdu' ? 'tpdu' : 'apdu' });
      let action = t0.start();
      while (action.type === 'send') action = t0.onResponse(await send(action.command));
      return action.response;
    });
  }

  /** Subscribes to reader events; returns the unsubscribe function. Polling starts with the first listener on readers without interrupt endpoint. */
  onEvent(listener: (e: ReaderEvent) => void): () => void {
    this.#listeners.add(listener);
    this.#schedulePoll();
    return () => {
      this.#listeners.delete(listener);
    };
  }

  /** Releases the interface and closes the device. Idempotent. */
  async close(): Promise<void> {
    if (this.#isClosed) return;
    this.#isClosed = true;
    if (this.#pollTimer !== undefined) clearTimeout(this.#pollTimer);
    this.#transport.close();
    if (this.#transport.isGone) return;
    await this.#device.releaseInterface(this.interfaceInfo.interfaceNumber).catch(() => undefined);
    await this.#device.close().catch(() => undefined);
  }

  async #withSlot<T>(slot: number, fn: () => Promise<T>): Promise<T> {
    if (!Number.isInteger(slot) || slot < 0 || slot >= this.slotCount)
      throw new RangeError(`slot ${slot} out of range 0..${this.slotCount - 1}`);
    if (this.#isClosed) throw new CcidError('CCID_CLOSED', 'reader closed');
    this.#transport.assertUsable();
    const s = this.#slots[slot]!;
    if (s.isBusy)
      throw new CcidError('CCID_BUSY', `a command is already in flight on slot ${slot}`);
    const busySlots = this.#slots.filter((x) => x.isBusy).length;
    if (busySlots >= this.interfaceInfo.maxBusySlots)
      throw new CcidError(
        'CCID_BUSY',
        `the reader allows ${this.interfaceInfo.maxBusySlots} busy slot(s) (bMaxCCIDBusySlots)`,
      );
    s.isBusy = true;
    try {
      // A background GetSlotStatus poll on this slot, or one that would exceed bMaxCCIDBusySlots, finishes first.
      const max = this.interfaceInfo.maxBusySlots;
      const internals = this.#slots
        .filter((x, i) => x.internal && (i === slot || busySlots + 2 > max))
        .map((x) => x.internal);
      if (internals.length) await Promise.allSettled(internals);
      return await fn();
    } finally {
      s.isBusy = false;
    }
  }

  async #cmd(
    cmd: CommandWithoutSeq,
    signal?: AbortSignal,
    timeoutMs = this.#timeoutMs,
  ): Promise<CcidResponse> {
    return this.#transport.exchange(cmd, {
      timeoutMs,
      signal,
      maxTimeExtensions: this.#opts.maxTimeExtensions,
    });
  }

  async #iccPowerOn(slot: number, signal: AbortSignal | undefined): Promise<Uint8Array> {
    const d = this.interfaceInfo.descriptor;
    const timeoutMs = this.#opts.powerOnTimeoutMs ?? Math.max(this.#timeoutMs, 10000);
    // ccid.md §6.3: automatic voltage with 0x08/0x04; otherwise 5 V, 1.8 V, 3 V (libccid order), supported classes first.
    let selects: number[];
    if (d.dwFeatures & (CcidFeature.AutoVoltage | CcidFeature.AutoActivation)) selects = [0];
    else {
      const order = [1, 3, 2];
      const supported = order.filter((v) => d.bVoltageSupport & (v === 1 ? 1 : v === 2 ? 2 : 4));
      selects = supported.length
        ? [...supported, ...order.filter((v) => !supported.includes(v))]
        : order;
    }
    let last: CcidResponse | undefined;
    for (let i = 0, busyRetries = 0; i < selects.length; i++) {
      const r = await this.#cmd(
        { type: 'IccPowerOn', slot, powerSelect: selects[i]! },
        signal,
        timeoutMs,
      );
      if (r.commandStatus === 0 && r.data.length > 0) return r.data.slice();
      last = r;
      if (r.iccStatus === 2) throw this.#absent(slot);
      if (r.bError === CcidBError.BUSY_WITH_AUTO_SEQUENCE && busyRetries++ < 3) {
        i--;
        continue;
      }
      if (r.bError === CcidBError.HW_ERROR)
        throw new CcidError('CCID_HARDWARE_ERROR', 'reader hardware error on power on', {
          bError: r.bError,
        });
    }
    if (last && last.bError === CcidBError.ICC_MUTE)
      throw new CcidError('CCID_CARD_MUTE', 'the card gives no ATR', { bError: last.bError });
    throw new CcidError(
      'CCID_COMMAND_FAILED',
      `IccPowerOn failed, bError 0x${(last?.bError ?? 0).toString(16)}`,
      last ? { bError: last.bError } : {},
    );
  }

  async #xfr(
    slot: number,
    data: Uint8Array,
    bwi: number,
    levelParameter: number,
    signal: AbortSignal | undefined,
    timeoutMs = this.#timeoutMs,
    kind: XfrPayloadKind = 'other',
  ): Promise<CcidResponse> {
    // libccid's SCM quirk (announced 263, takes 271) applies to T=0 TPDUs and short APDUs only.
    const max = maxXfrBlockDataBytes(this.interfaceInfo.maxMessageLength, kind);
    if (data.length > max)
      throw new CcidError(
        'CCID_APDU_TOO_LONG',
        `${data.length} bytes exceed the reader's ${max}-byte message limit`,
      );
    return this.#cmd({ type: 'XfrBlock', slot, bwi, levelParameter, data }, signal, timeoutMs);
  }

  /** One XfrBlock whose failure is an error (APDU levels, T=0 TPDUs). */
  async #xfrData(
    slot: number,
    data: Uint8Array,
    signal: AbortSignal | undefined,
    levelParameter = 0,
    kind: XfrPayloadKind = 'other',
  ): Promise<CcidResponse & { data: Uint8Array }> {
    const r = await this.#xfr(slot, data, 0, levelParameter, signal, this.#timeoutMs, kind);
    if (r.commandStatus !== 0) throw this.#xfrFailure(slot, r);
    return r;
  }

  #xfrFailure(slot: number, r: CcidResponse): CcidError {
    if (r.iccStatus === 2) return this.#absent(slot);
    if (r.bError === CcidBError.ICC_MUTE)
      return new CcidError('CCID_CARD_MUTE', 'the card does not answer', { bError: r.bError });
    if (r.bError === CcidBError.HW_ERROR)
      return new CcidError('CCID_HARDWARE_ERROR', 'reader hardware error', { bError: r.bError });
    if (r.bError === CcidBError.CMD_SLOT_BUSY)
      return new CcidError('CCID_BUSY', 'the reader reports the slot busy (CMD_SLOT_BUSY)', {
        bError: r.bError,
      });
    return new CcidError(
      'CCID_COMMAND_FAILED',
      `XfrBlock failed, bError 0x${r.bError.toString(16)}`,
      { bError: r.bError },
    );
  }

  /** Extended APDU level chaining (CCID rev 1.1 §6.1.4 wLevelParameter, §6.2.1 bChainParameter; ccid.md §7). */
  async #xfrExtended(
    slot: number,
    apdu: Uint8Array,
    signal: AbortSignal | undefined,
  ): Promise<Uint8Array> {
    const chunk = Math.max(1, this.interfaceInfo.maxMessageLength - 10);
    let r: CcidResponse;
    if (apdu.length <= chunk) r = await this.#xfrData(slot, apdu, signal, 0x0000);
    else {
      let off = 0;
      for (;;) {
        const end = Math.min(apdu.length, off + chunk);
        const level = off === 0 ? 0x0001 : end === apdu.length ? 0x0002 : 0x0003;
        r = await this.#xfrData(slot, apdu.subarray(off, end), signal, level);
        off = end;
        if (off >= apdu.length) break;
      }
    }
    const parts: Uint8Array[] = [r.data.slice()];
    let total = r.data.length;
    let guard = 0;
    while (r.bSpecific === 0x01 || r.bSpecific === 0x03 || r.bSpecific === 0x10) {
      if (++guard > 4096 || total > 65538)
        throw new CcidError('CCID_PROTOCOL', 'response chaining does not end');
      r = await this.#xfrData(slot, new Uint8Array(0), signal, 0x0010);
      parts.push(r.data.slice());
      total += r.data.length;
    }
    return concatBytes(parts);
  }

  async #runT1(
    slot: number,
    t1: T1Session,
    first: ReturnType<T1Session['transmit']>,
    signal: AbortSignal | undefined,
  ): Promise<Uint8Array> {
    let action = first;
    for (;;) {
      switch (action.type) {
        case 'deliver':
          return action.apdu;
        case 'ifsd-accepted':
          return new Uint8Array(0);
        case 'failed':
          throw action.error;
        case 'send': {
          const bwi = action.wtx > 1 ? Math.min(action.wtx, 255) : 0;
          let r: CcidResponse;
          try {
            r = await this.#xfr(
              slot,
              action.block,
              bwi,
              0,
              signal,
              this.#timeoutMs * Math.max(1, action.wtx),
            );
          } catch (e) {
            if (isCcidError(e) && e.code === 'CCID_TIMEOUT') {
              action = t1.onError('timeout');
              continue;
            }
            throw e;
          }
          if (r.commandStatus === 0) action = t1.onBlock(r.data);
          else if (r.iccStatus === 2) throw this.#absent(slot);
          else if (r.bError === CcidBError.ICC_MUTE) action = t1.onError('timeout');
          else if (r.bError === CcidBError.XFR_PARITY_ERROR) action = t1.onError('parity');
          else throw this.#xfrFailure(slot, r);
        }
      }
    }
  }

  #absent(slot: number): CcidError {
    const s = this.#slots[slot]!;
    s.power = undefined;
    return new CcidError('CCID_CARD_ABSENT', `no card in slot ${slot}`, {
      bError: CcidBError.ICC_MUTE,
    });
  }

  #statusOf(slot: number, r: CcidResponse): 'active' | 'inactive' | 'absent' {
    const s = this.#slots[slot]!;
    const st = r.iccStatus === 0 ? 'active' : r.iccStatus === 1 ? 'inactive' : 'absent';
    if (st === 'absent') s.power = undefined;
    // ccid.md §11: a card we powered that is now inactive was pulled and re-inserted.
    if (st === 'inactive' && s.power) {
      s.power = undefined;
      this.#emitChange(slot, false);
    }
    this.#emitChange(slot, st !== 'absent');
    return st;
  }

  #emitChange(slot: number, isPresent: boolean): void {
    const s = this.#slots[slot]!;
    if (s.isPresent === isPresent) return;
    const wasKnown = s.isPresent !== undefined;
    s.isPresent = isPresent;
    if (!isPresent) s.power = undefined;
    if (wasKnown || isPresent)
      this.#emit(isPresent ? { type: 'card-inserted', slot } : { type: 'card-removed', slot });
  }

  #onInterrupt(m: CcidInterruptMessage): void {
    if (m.type === 'HardwareError') {
      this.#emit({ type: 'hardware-error', slot: m.slot, code: m.code });
      return;
    }
    if (m.type !== 'NotifySlotChange') return;
    for (const s of m.slots) {
      if (!s.hasChanged) continue;
      // "present, changed" after a known-present state = removed and re-inserted between notifications.
      if (s.isPresent && this.#slots[s.slot]?.isPresent) this.#emitChange(s.slot, false);
      this.#emitChange(s.slot, s.isPresent);
    }
  }

  #onGone(): void {
    if (this.#pollTimer !== undefined) clearTimeout(this.#pollTimer);
    for (const s of this.#slots) s.power = undefined;
    this.#emit({ type: 'reader-gone' });
  }

  #emit(e: ReaderEvent): void {
    for (const l of [...this.#listeners]) {
      try {
        l(e);
      } catch (err) {
        this.#opts.onLog?.({ kind: 'note', message: 'event listener threw', cause: err });
      }
    }
  }

  #schedulePoll(): void {
    if (this.interfaceInfo.hasInterruptEndpoint || this.#pollTimer !== undefined || this.#isClosed)
      return;
    this.#pollTimer = setTimeout(() => {
      this.#pollTimer = undefined;
      void this.#poll();
    }, this.#opts.pollIntervalMs ?? 500);
  }

  /** Card events without an interrupt endpoint: GetSlotStatus on idle slots (ccid.md §9.1). */
  async #poll(): Promise<void> {
    if (this.#isClosed || this.#transport.isGone || this.#listeners.size === 0) return;
    for (let slot = 0; slot < this.slotCount; slot++) {
      const s = this.#slots[slot]!;
      if (s.isBusy || s.internal) continue;
      // CCID rev 1.1 §5.1 bMaxCCIDBusySlots: never poll beside a running command beyond the limit.
      if (this.#slots.filter((x) => x.isBusy).length >= this.interfaceInfo.maxBusySlots) break;
      const p = this.#transport.exchange(
        { type: 'GetSlotStatus', slot },
        { timeoutMs: Math.min(this.#timeoutMs, 3000) },
      );
      s.internal = p;
      try {
        this.#statusOf(slot, await p);
      } catch {
        // reader-gone is reported by the transport; other failures are retried at the next poll
      } finally {
        s.internal = undefined;
      }
    }
    this.#schedulePoll();
  }

  #log(message: string): void {
    this.#opts.onLog?.({ kind: 'note', message });
  }
}
