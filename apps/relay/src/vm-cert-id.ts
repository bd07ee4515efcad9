/**
 * How a VM's TLS client certificate names its target (TLS dial-in): the identities, their
 * text forms, and the index from a verified certificate to a target id. Pure: used by the
 * configuration (parsing, cross-checks) and by the VM TLS listener (dial-in-tls.ts).
 */
import { RelayError } from './errors.ts';

/**
 * `sha256` pins one exact certificate by its SHA-256 fingerprint (`AB:CD:…`, upper case);
 * `cn` accepts any certificate the VM CA issued with that subject common name
 * (case-sensitive, at most {@link MAX_CN_CHARS} characters).
 */
export type VmCertId = { kind: 'sha256'; value: string } | { kind: 'cn'; value: string };

/** The identity a verified VM certificate offers. */
export interface VmCertIdentity {
  /** SHA-256 fingerprint, `AB:CD:…` (upper case). */
  sha256: string;
  /** Subject CN; undefined when absent or given more than once. */
  cn: string | undefined;
}

/** Upper bound of X.520 `ub-common-name`: a subject CN is at most 64 characters. */
export const MAX_CN_CHARS = 64;

/**
 * Normalises a SHA-256 certificate fingerprint to Node's `fingerprint256` form (upper-case hex
 * pairs joined by ':'). Accepts 64 hex digits with or without ':' between the pairs
 * (`openssl x509 -noout -fingerprint -sha256` prints the colon form). Undefined when malformed.
 */
export function normalizeSha256Fingerprint(value: string): string | undefined {
  const hex = value.trim();
  if (!/^[0-9a-fA-F]{64}$/.test(hex) && !/^[0-9a-fA-F]{2}(?::[0-9a-fA-F]{2}){31}$/.test(hex))
    return undefined;
  const plain = hex.replaceAll(':', '').toUpperCase();
  return (plain.match(/../g) as string[]).join(':');
}

/** `VmCertId` as text for messages: `sha256:AB:…` or `cn:NAME`. */
export function formatVmCertId(id: VmCertId): string {
  return `${id.kind}:${id.value}`;
}

/** Maps certificate identities to target ids (fingerprint first, then CN). */
export class VmCertIndex {
  readonly #bySha256 = new Map<string, string>();
  readonly #byCn = new Map<string, string>();

  /** Throws `RELAY_CONFIG_INVALID` when two targets name the same certificate or CN. */
  constructor(targets: Iterable<readonly [string, VmCertId]>) {
    for (const [id, cert] of targets) {
      const map = cert.kind === 'sha256' ? this.#bySha256 : this.#byCn;
      const other = map.get(cert.value);
      if (other !== undefined)
        throw new RelayError(
          'RELAY_CONFIG_INVALID',
          `targets "${other}" and "${id}" both name the VM certificate ${formatVmCertId(cert)}`,
        );
      map.set(cert.value, id);
    }
  }

  /** The target a certificate names, if any. */
  lookup(identity: VmCertIdentity): string | undefined {
    return (
      this.#bySha256.get(identity.sha256) ??
      (identity.cn === undefined ? undefined : this.#byCn.get(identity.cn))
    );
  }
}
