/**
 * The demo card: an ISO/IEC 7816-4 card whose default application is a PIV applet (NIST SP
 * 800-73-4 Part 2) that OpenSC's PIV driver (card-piv.c, pkcs15-piv.c) recognises: SELECT by
 * (partial) AID with the application property template, GET DATA of the discovery, CHUID, key
 * history and X.509 certificate objects, VERIFY with a retry counter, CHANGE REFERENCE DATA,
 * RESET RETRY COUNTER, GENERAL AUTHENTICATE with RSA 2048 on key 9A (raw, the host pads) and ECDSA
 * P-256 on key 9E (the host sends the digest), command chaining
 * (CLA bit 0x10, ISO 7816-4 §5.1.1.1) and response chaining with 61xx / GET RESPONSE.
 */
import { parseCommandApdu, type CommandApdu } from '../apdu.ts';
import { buildAtr } from '../atr.ts';
import { concatBytes, hexToBytes, swBytes } from '../bytes.ts';
import { ascii } from '../platform.ts';
import type { VirtualCard } from '../virtual-card.ts';
import { getDefaultPivCredentials, type PivCredentials } from './credentials.ts';
import { p256 } from '@noble/curves/nist.js';
import { base64UrlToBytes, rsaKeyFromJwk, rsaPrivate, type RsaPrivateKey } from './rsa.ts';
import { findTlv, parseTlvs, tlv } from './tlv.ts';

/** PIV application identifier with version (SP 800-73-4 Part 1 §2.2). */
export const PIV_AID = Uint8Array.of(
  0xa0,
  0x00,
  0x00,
  0x03,
  0x08,
  0x00,
  0x00,
  0x10,
  0x00,
  0x01,
  0x00,
);

/**
 * The answer to SELECT: the application property template (SP 800-73-4 Part 2 §3.1.1, Table 3),
 * PIX and the coexistent tag allocation authority (the RID). Built once; answers copy it.
 */
const SELECT_APT = tlv(
  0x61,
  tlv(0x4f, PIV_AID.subarray(5)),
  tlv(0x79, tlv(0x4f, PIV_AID.subarray(0, 5))),
  tlv(0x50, ascii('cardlend demo PIV')),
);

/** PIV data object tags used by the demo card (SP 800-73-4 Part 1 Table 3). */
export const PIV_OBJECT = {
  discovery: 0x7e,
  chuid: 0x5fc102,
  ccc: 0x5fc107,
  keyHistory: 0x5fc10c,
  certPivAuth: 0x5fc105, // key 9A
  certSignature: 0x5fc10a, // key 9C
  certKeyManagement: 0x5fc10b, // key 9D
  certCardAuth: 0x5fc101, // key 9E
} as const;

/** Status words used by the PIV card (ISO 7816-4 §5.6, SP 800-73-4 Part 2 §3). */
export const PIV_SW = {
  ok: 0x9000,
  wrongLength: 0x6700,
  securityNotSatisfied: 0x6982,
  pinBlocked: 0x6983,
  incorrectData: 0x6a80,
  notFound: 0x6a82,
  incorrectP1P2: 0x6a86,
  referenceNotFound: 0x6a88,
  insNotSupported: 0x6d00,
  claNotSupported: 0x6e00,
  lastCommandOfChainExpected: 0x6883,
  conditionsNotSatisfied: 0x6985,
} as const;

/** Options of createPivDemoCard. */
export interface PivDemoCardOptions {
  /** PIN, 6-8 digits (default '123456'). */
  readonly pin?: string;
  /** PUK, 8 digits (default '12345678'). */
  readonly puk?: string;
  /** PIN tries before blocking (default 3). */
  readonly pinTries?: number;
  /** Pre-generated key and certificate; default: one set generated per process and cached. */
  readonly credentials?: PivCredentials;
  /** Transport protocols offered in the ATR (default [0, 1]: QEMU 7.2's reader needs T=0). */
  readonly protocols?: readonly (0 | 1)[];
}

/** The demo card plus introspection for tests. */
export interface PivDemoCard extends VirtualCard {
  readonly credentials: PivCredentials;
  /** DER certificate of key 9A. */
  readonly certificateDer: Uint8Array;
  /** Remaining PIN tries (0 = blocked). */
  readonly pinTriesRemaining: number;
  readonly isPinVerified: boolean;
}

function padPin(pin: string): Uint8Array {
  const out = new Uint8Array(8).fill(0xff);
  out.set(ascii(pin).subarray(0, 8));
  return out;
}

/** A fresh answer: the first `length` bytes of `data`, then SW1 SW2. */
function withTrailer(data: Uint8Array, length: number, sw1: number, sw2: number): Uint8Array {
  const out = new Uint8Array(length + 2);
  out.set(length === data.length ? data : data.subarray(0, length));
  out[length] = sw1 & 0xff;
  out[length + 1] = sw2 & 0xff;
  return out;
}

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}

/** Creates the PIV demo card (generates/caches credentials unless given). */
export async function createPivDemoCard(opts: PivDemoCardOptions = {}): Promise<PivDemoCard> {
  const credentials = opts.credentials ?? (await getDefaultPivCredentials());
  const pin = opts.pin ?? '123456';
  const puk = opts.puk ?? '12345678';
  if (!/^[0-9]{6,8}$/.test(pin)) throw new RangeError('PIN must be 6 to 8 digits');
  if (!/^[0-9]{8}$/.test(puk)) throw new RangeError('PUK must be 8 digits');
  return new PivApplet({
    credentials,
    pin,
    puk,
    maxTries: opts.pinTries ?? 3,
    protocols: opts.protocols ?? [0, 1],
  });
}

class PivApplet implements PivDemoCard {
  readonly atr: Uint8Array;
  readonly protocols: readonly (0 | 1)[];
  readonly credentials: PivCredentials;
  readonly certificateDer: Uint8Array;
  readonly #key: RsaPrivateKey;
  readonly #ecKey: Uint8Array | null;
  readonly #maxTries: number;
  #pin: Uint8Array;
  readonly #puk: Uint8Array;
  #tries: number;
  #isVerified = false;
  #chain: { ins: number; p1: number; p2: number; data: Uint8Array[] } | null = null;
  #stash: { data: Uint8Array; sw: number } | null = null;
  readonly #objects = new Map<number, Uint8Array>();

  constructor(o: {
    credentials: PivCredentials;
    pin: string;
    puk: string;
    maxTries: number;
    protocols: readonly (0 | 1)[];
  }) {
    this.credentials = o.credentials;
    this.certificateDer = o.credentials.certificateDer;
    this.#key = rsaKeyFromJwk(o.credentials.rsaPrivateJwk);
    const d = o.credentials.ecPrivateJwk?.d;
    this.#ecKey = d && o.credentials.ecCertificateDer ? base64UrlToBytes(d) : null;
    this.#pin = padPin(o.pin);
    this.#puk = padPin(o.puk);
    this.#maxTries = o.maxTries;
    this.#tries = o.maxTries;
    this.protocols = o.protocols;
    // Direct convention, T=0 and T=1 offered (TD1 = 80, TD2 = 01), historical bytes "cardlend PIV".
    this.atr = buildAtr({ protocols: o.protocols, historical: ascii('cardlend PIV') });
    // SP 800-73-4 Part 1 §3.3.2 discovery object: PIV AID and PIN usage policy (PIV PIN only).
    this.#objects.set(
      PIV_OBJECT.discovery,
      tlv(0x7e, tlv(0x4f, PIV_AID), tlv(0x5f2f, Uint8Array.of(0x40, 0x00))),
    );
    // CHUID (§3.1.2): FASC-N, GUID, expiration date, empty signature, error detection code.
    const guid = this.certificateDer.subarray(this.certificateDer.length - 16);
    this.#objects.set(
      PIV_OBJECT.chuid,
      tlv(
        0x53,
        // FASC-N of a non-federal issuer (agency code 9999): OpenSC then takes the GUID as serial.
        tlv(0x30, hexToBytes('d4e739da739ced39ce739d836858210842108421c84210c3eb')),
        tlv(0x34, guid),
        tlv(0x35, ascii('20491231')),
        tlv(0x3e, new Uint8Array(0)),
        tlv(0xfe, new Uint8Array(0)),
      ),
    );
    // Key history (§3.3.3): no retired keys.
    this.#objects.set(
      PIV_OBJECT.keyHistory,
      tlv(
        0x53,
        tlv(0xc1, Uint8Array.of(0)),
        tlv(0xc2, Uint8Array.of(0)),
        tlv(0xfe, new Uint8Array(0)),
      ),
    );
    // X.509 certificate for PIV Authentication (§3.1.3 / Part 1 Table 10): 70 cert, 71 certinfo, FE.
    this.#objects.set(
      PIV_OBJECT.certPivAuth,
      tlv(
        0x53,
        tlv(0x70, this.certificateDer),
        tlv(0x71, Uint8Array.of(0x00)),
        tlv(0xfe, new Uint8Array(0)),
      ),
    );
    if (this.#ecKey && o.credentials.ecCertificateDer) {
      // Card Authentication certificate (key 9E, ECC P-256), readable without PIN.
      this.#objects.set(
        PIV_OBJECT.certCardAuth,
        tlv(
          0x53,
          tlv(0x70, o.credentials.ecCertificateDer),
          tlv(0x71, Uint8Array.of(0x00)),
          tlv(0xfe, new Uint8Array(0)),
        ),
      );
    }
  }

  get pinTriesRemaining(): number {
    return this.#tries;
  }

  get isPinVerified(): boolean {
    return this.#isVerified;
  }

  reset(): void {
    this.#isVerified = false;
    this.#chain = null;
    this.#stash = null;
  }

  process(apdu: Uint8Array): Uint8Array {
    const cmd = parseCommandApdu(apdu);
    if (!cmd) return swBytes(PIV_SW.wrongLength);
    if ((cmd.cla & ~0x10) !== 0x00) return swBytes(PIV_SW.claNotSupported);
    if (cmd.ins !== 0xc0) this.#stash = null;
    const whole = this.#unchain(cmd);
    if ('reply' in whole) return whole.reply;
    const handler = this.#handlers.get(cmd.ins);
    return handler ? handler(cmd, whole.data) : swBytes(PIV_SW.insNotSupported);
  }

  /** The instructions the card knows, by INS (SP 800-73-4 part 2 §3). */
  readonly #handlers = new Map<number, (cmd: CommandApdu, data: Uint8Array) => Uint8Array>([
    [0xa4, (cmd, data) => this.#select(cmd, data)],
    [0xcb, (cmd, data) => this.#getData(cmd, data)],
    [0x20, (cmd, data) => this.#verify(cmd, data)],
    [0x24, (cmd, data) => this.#changePin(cmd, data)],
    [0x2c, (cmd, data) => this.#resetRetryCounter(cmd, data)],
    [0x87, (cmd, data) => this.#generalAuthenticate(cmd, data)],
    [0xc0, (cmd) => this.#getResponse(cmd)],
  ]);

  /**
   * Command chaining (ISO 7816-4 §5.1.1.1): a link (CLA bit 0x10) is kept and answered 9000;
   * the last command gets the whole data. A link for another INS P1 P2 breaks the chain.
   */
  #unchain(cmd: CommandApdu): { reply: Uint8Array } | { data: Uint8Array } {
    const chain = this.#chain;
    if (chain && (chain.ins !== cmd.ins || chain.p1 !== cmd.p1 || chain.p2 !== cmd.p2)) {
      this.#chain = null;
      return { reply: swBytes(PIV_SW.lastCommandOfChainExpected) };
    }
    if (cmd.cla & 0x10) {
      this.#chain ??= { ins: cmd.ins, p1: cmd.p1, p2: cmd.p2, data: [] };
      this.#chain.data.push(cmd.data.slice());
      return { reply: swBytes(PIV_SW.ok) };
    }
    this.#chain = null;
    return { data: chain ? concatBytes(...chain.data, cmd.data) : cmd.data };
  }

  /** Sends `data` with SW, chaining through 61xx when it does not fit the short Ne (ISO 7816-4 §5.3.4). */
  #finish(cmd: CommandApdu, data: Uint8Array, sw: number = PIV_SW.ok): Uint8Array {
    const max = cmd.isExtended && cmd.ne !== null ? cmd.ne : Math.min(cmd.ne ?? 256, 256);
    if (data.length <= max) return withTrailer(data, data.length, sw >> 8, sw);
    this.#stash = { data: data.slice(max), sw };
    const left = data.length - max;
    return withTrailer(data, max, 0x61, left >= 256 ? 0 : left);
  }

  #getResponse(cmd: CommandApdu): Uint8Array {
    const stash = this.#stash;
    if (!stash || cmd.p1 !== 0 || cmd.p2 !== 0)
      return swBytes(stash ? PIV_SW.incorrectP1P2 : PIV_SW.conditionsNotSatisfied);
    this.#stash = null;
    return this.#finish({ ...cmd, isExtended: false }, stash.data, stash.sw);
  }

  #select(cmd: CommandApdu, aid: Uint8Array): Uint8Array {
    if (cmd.p1 !== 0x04) return swBytes(PIV_SW.notFound);
    if (
      aid.length < 5 ||
      aid.length > PIV_AID.length ||
      !equalBytes(aid, PIV_AID.subarray(0, aid.length))
    ) {
      return swBytes(PIV_SW.notFound);
    }
    return this.#finish(cmd, SELECT_APT);
  }

  #getData(cmd: CommandApdu, data: Uint8Array): Uint8Array {
    if (cmd.p1 !== 0x3f || cmd.p2 !== 0xff) return swBytes(PIV_SW.incorrectP1P2);
    const tags = parseTlvs(data);
    const tagList = tags?.length === 1 && tags[0]!.tag === 0x5c ? tags[0]!.value : undefined;
    if (!tagList || tagList.length < 1 || tagList.length > 3) return swBytes(PIV_SW.incorrectData);
    let tag = 0;
    for (const b of tagList) tag = (tag << 8) | b;
    const obj = this.#objects.get(tag);
    if (!obj) return swBytes(PIV_SW.notFound);
    return this.#finish(cmd, obj);
  }

  #verify(cmd: CommandApdu, data: Uint8Array): Uint8Array {
    if (cmd.p2 !== 0x80) return swBytes(PIV_SW.referenceNotFound);
    if (cmd.p1 === 0xff) {
      // SP 800-73-4 Part 2 §3.2.1: P1 = FF resets the security status of the PIN.
      if (data.length !== 0) return swBytes(PIV_SW.wrongLength);
      this.#isVerified = false;
      return swBytes(PIV_SW.ok);
    }
    if (cmd.p1 !== 0x00) return swBytes(PIV_SW.incorrectP1P2);
    if (data.length === 0) {
      if (this.#tries === 0) return swBytes(PIV_SW.pinBlocked);
      return swBytes(this.#isVerified ? PIV_SW.ok : 0x63c0 | this.#tries);
    }
    if (data.length !== 8) return swBytes(PIV_SW.incorrectData);
    if (this.#tries === 0) return swBytes(PIV_SW.pinBlocked);
    if (equalBytes(data, this.#pin)) {
      this.#tries = this.#maxTries;
      this.#isVerified = true;
      return swBytes(PIV_SW.ok);
    }
    this.#tries--;
    this.#isVerified = false;
    return swBytes(this.#tries === 0 ? PIV_SW.pinBlocked : 0x63c0 | this.#tries);
  }

  #changePin(cmd: CommandApdu, data: Uint8Array): Uint8Array {
    if (cmd.p1 !== 0x00 || cmd.p2 !== 0x80) return swBytes(PIV_SW.referenceNotFound);
    if (data.length !== 16) return swBytes(PIV_SW.incorrectData);
    if (this.#tries === 0) return swBytes(PIV_SW.pinBlocked);
    if (!equalBytes(data.subarray(0, 8), this.#pin)) {
      this.#tries--;
      this.#isVerified = false;
      return swBytes(this.#tries === 0 ? PIV_SW.pinBlocked : 0x63c0 | this.#tries);
    }
    this.#pin = data.slice(8);
    this.#tries = this.#maxTries;
    return swBytes(PIV_SW.ok);
  }

  #resetRetryCounter(cmd: CommandApdu, data: Uint8Array): Uint8Array {
    if (cmd.p1 !== 0x00 || cmd.p2 !== 0x80) return swBytes(PIV_SW.referenceNotFound);
    if (data.length !== 16) return swBytes(PIV_SW.incorrectData);
    if (!equalBytes(data.subarray(0, 8), this.#puk)) return swBytes(0x63c0);
    this.#pin = data.slice(8);
    this.#tries = this.#maxTries;
    this.#isVerified = false;
    return swBytes(PIV_SW.ok);
  }

  #generalAuthenticate(cmd: CommandApdu, data: Uint8Array): Uint8Array {
    // SP 800-73-4 Part 2 §3.2.4: P1 = algorithm, P2 = key reference; data = 7C dynamic auth template
    // with 82 (empty: response requested) and 81 (challenge: padded block for RSA, hash for ECC).
    const isRsa = cmd.p2 === 0x9a;
    const isEcc = cmd.p2 === 0x9e && this.#ecKey !== null;
    if (!isRsa && !isEcc) return swBytes(PIV_SW.notFound);
    const expectedAlg = isEcc ? 0x11 : this.#key.size === 256 ? 0x07 : 0x06;
    if (cmd.p1 !== expectedAlg) return swBytes(PIV_SW.incorrectP1P2);
    const template = findTlv(data, 0x7c);
    if (!template) return swBytes(PIV_SW.incorrectData);
    const items = parseTlvs(template);
    const response = items?.find((t) => t.tag === 0x82);
    const challenge = items?.find((t) => t.tag === 0x81);
    if (!response || response.value.length !== 0 || !challenge)
      return swBytes(PIV_SW.incorrectData);
    if (isEcc) {
      // Key 9E needs no PIN (SP 800-73-4 Part 1 §3.2); the host sends the digest, we sign it as is.
      if (challenge.value.length < 16 || challenge.value.length > 64)
        return swBytes(PIV_SW.incorrectData);
      const sig = p256.sign(challenge.value, this.#ecKey!, {
        prehash: false,
        format: 'der',
        lowS: false,
      });
      return this.#finish(cmd, tlv(0x7c, tlv(0x82, sig)));
    }
    if (!this.#isVerified) return swBytes(PIV_SW.securityNotSatisfied);
    if (challenge.value.length !== this.#key.size) return swBytes(PIV_SW.incorrectData);
    const signature = rsaPrivate(this.#key, challenge.value);
    if (!signature) return swBytes(PIV_SW.incorrectData);
    return this.#finish(cmd, tlv(0x7c, tlv(0x82, signature)));
  }
}
