/**
 * Reading the relay's PEM files, kept apart from parsing: the page listener's certificate and
 * key (`--cert`/`--key`), and the certificate, key and CA of the TLS ends that require their
 * peer's certificate (the VM TLS listener, the operator API, the cluster link), checked so that
 * a bad file is named precisely at start and on SIGHUP (where it keeps the old ones).
 */
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { VmTlsConfig } from './config/types.ts';
import { RelayError } from './errors.ts';

/** Reads a file's bytes (tests pass their own). */
export type ReadBytes = (file: string) => Uint8Array;

export const readFileBytes: ReadBytes = (file) => readFileSync(file);

/** PEM bytes of a listener requiring client certificates, checked by {@link loadCertKeyCaFiles}. */
export interface TlsMaterial {
  cert: Buffer;
  key: Buffer;
  ca: Buffer;
}

/** PEM bytes of the shared VM listener, checked by {@link loadVmTlsFiles}. */
export type VmTlsMaterial = TlsMaterial;

/** Names a PEM setting in errors (config key, flag if any), e.g. `vmTls.cert (--vm-tls-cert)`. */
export type TlsSettingLabel = (key: 'cert' | 'key' | 'ca') => string;

/** The PEM file paths of a listener that requires client certificates. */
export type TlsFilePaths = Pick<VmTlsConfig, 'certFile' | 'keyFile' | 'caFile'>;

const PEM_CERTIFICATE = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

function configError(message: string, cause?: unknown): RelayError {
  return new RelayError('RELAY_CONFIG_INVALID', message, cause === undefined ? {} : { cause });
}

/** The page listener's PEM certificate and key; throws `RELAY_CONFIG_INVALID` naming the file. */
export function loadWebTlsFiles(
  tls: { certFile: string; keyFile: string },
  readBytes: ReadBytes = readFileBytes,
): { cert: Buffer; key: Buffer } {
  const read = (what: string, file: string): Buffer => {
    try {
      return Buffer.from(readBytes(file));
    } catch (e) {
      throw configError(
        `cannot load TLS files: TLS ${what}: cannot read ${file}: ${(e as Error).message}`,
        e,
      );
    }
  };
  return { cert: read('certificate', tls.certFile), key: read('key', tls.keyFile) };
}

/** The VM listener's PEM files, checked as {@link loadCertKeyCaFiles} says. */
export function loadVmTlsFiles(
  config: TlsFilePaths,
  readBytes: ReadBytes = readFileBytes,
  nowMs: number = Date.now(),
): VmTlsMaterial {
  return loadCertKeyCaFiles(config, vmTlsLabel, readBytes, nowMs);
}

/**
 * Reads and checks a listener's PEM files: the certificate parses and has not expired, the
 * key parses (unencrypted) and belongs to the certificate, and the CA file holds one or more
 * CA certificates. Throws `RELAY_CONFIG_INVALID` naming the setting (`label`), the file and
 * what is wrong.
 */
export function loadCertKeyCaFiles(
  config: TlsFilePaths,
  label: TlsSettingLabel,
  readBytes: ReadBytes = readFileBytes,
  nowMs: number = Date.now(),
): TlsMaterial {
  const read = (key: 'cert' | 'key' | 'ca', file: string): Buffer => {
    try {
      return Buffer.from(readBytes(file));
    } catch (e) {
      throw configError(`${label(key)}: cannot read ${file}: ${(e as Error).message}`, e);
    }
  };
  const material = {
    cert: read('cert', config.certFile),
    key: read('key', config.keyFile),
    ca: read('ca', config.caFile),
  };
  checkLeaf(material, config, label, nowMs);
  checkCa(material.ca, config.caFile, label);
  return material;
}

function vmTlsLabel(key: 'cert' | 'key' | 'ca'): string {
  return `vmTls.${key} (--vm-tls-${key})`;
}

function checkLeaf(
  { cert, key }: TlsMaterial,
  config: Pick<TlsFilePaths, 'certFile' | 'keyFile'>,
  label: TlsSettingLabel,
  nowMs: number,
): void {
  const certBlocks = cert.toString('latin1').match(PEM_CERTIFICATE) ?? [];
  if (certBlocks.length === 0)
    throw configError(`${label('cert')}: ${config.certFile} holds no PEM certificate`);
  let leaf: X509Certificate;
  try {
    leaf = new X509Certificate(certBlocks[0] as string);
  } catch (e) {
    throw configError(
      `${label('cert')}: ${config.certFile}: unreadable certificate (${(e as Error).message})`,
      e,
    );
  }
  if (Date.parse(leaf.validTo) < nowMs)
    throw configError(`${label('cert')}: ${config.certFile} expired on ${leaf.validTo}`);
  let privateKey;
  try {
    privateKey = createPrivateKey(key);
  } catch (e) {
    throw configError(
      `${label('key')}: ${config.keyFile} is not an unencrypted PEM private key (${(e as Error).message})`,
      e,
    );
  }
  if (!leaf.checkPrivateKey(privateKey))
    throw configError(
      `${label('key')}: ${config.keyFile} does not belong to the certificate ${config.certFile}`,
    );
}

function checkCa(ca: Buffer, caFile: string, label: TlsSettingLabel): void {
  const caBlocks = ca.toString('latin1').match(PEM_CERTIFICATE) ?? [];
  if (caBlocks.length === 0)
    throw configError(`${label('ca')}: ${caFile} holds no PEM certificate`);
  caBlocks.forEach((block, i) => {
    let c: X509Certificate;
    try {
      c = new X509Certificate(block);
    } catch (e) {
      throw configError(
        `${label('ca')}: ${caFile}: certificate #${i + 1} is unreadable (${(e as Error).message})`,
        e,
      );
    }
    if (!c.ca)
      throw configError(
        `${label('ca')}: ${caFile}: certificate #${i + 1} (${c.subject.replaceAll('\n', ', ')}) is not a CA certificate (basicConstraints CA:TRUE)`,
      );
  });
}
