/**
 * Parsers of single configuration values (flags and config-file keys alike). Pure; every
 * error is a `RELAY_CONFIG_INVALID` {@link RelayError} whose message names the flag or key
 * (`what`) and the accepted form.
 */
import path from 'node:path';
import { RelayError } from '../errors.ts';
import { MAX_CN_CHARS, normalizeSha256Fingerprint, type VmCertId } from '../vm-cert-id.ts';
import type { CertKeyCaFiles, HostPort, TargetConfig } from './types.ts';

export function invalid(message: string, cause?: unknown): RelayError {
  return new RelayError('RELAY_CONFIG_INVALID', message, cause === undefined ? {} : { cause });
}

/** Parses `HOST:PORT` (IPv6 as `[addr]:PORT`). `what` names the flag or key in errors. */
export function parseHostPort(value: unknown, what: string): HostPort {
  if (typeof value !== 'string')
    throw invalid(`${what} must be a string "HOST:PORT", got ${JSON.stringify(value)}`);
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]\s]+)):(\d{1,5})$/.exec(value.trim());
  if (!m)
    throw invalid(
      `${what} must look like HOST:PORT (e.g. 127.0.0.1:8080 or [::1]:8080), got "${value}"`,
    );
  const host = (m[1] ?? m[2]) as string;
  const port = Number(m[3]);
  if (port < 0 || port > 65535) throw invalid(`${what}: port ${port} is out of range 0–65535`);
  return { host, port };
}

/**
 * Parses `sha256:<64 hex digits, ':' between pairs optional>` or `cn:<subject CN>` (see
 * {@link VmCertId}). `what` names the flag or key in errors.
 */
export function parseVmCertId(value: unknown, what: string): VmCertId {
  const form = 'sha256:<SHA-256 fingerprint> or cn:<certificate subject CN>';
  if (typeof value !== 'string') throw invalid(`${what} must be a string ${form}`);
  if (value.startsWith('sha256:')) {
    const fp = normalizeSha256Fingerprint(value.slice('sha256:'.length));
    if (fp === undefined)
      throw invalid(
        `${what}: "${value}" is not a SHA-256 fingerprint (64 hex digits, optionally AB:CD:… as openssl x509 -fingerprint -sha256 prints)`,
      );
    return { kind: 'sha256', value: fp };
  }
  if (value.startsWith('cn:')) {
    const cn = value.slice('cn:'.length);
    // eslint-disable-next-line no-control-regex
    if (cn === '' || cn.length > MAX_CN_CHARS || /[\u0000-\u001f\u007f]/.test(cn))
      throw invalid(
        `${what}: the common name must be 1–${MAX_CN_CHARS} characters without control characters`,
      );
    return { kind: 'cn', value: cn };
  }
  throw invalid(`${what} must be ${form}, got ${JSON.stringify(value)}`);
}

/** A TLS dial-in target: its address is the shared VM listener's, filled in by validation. */
export function tlsDialInTarget(vmCert: VmCertId): TargetConfig {
  return { host: '', port: 0, isDialIn: true, vmCert };
}

/**
 * `"HOST:PORT"` (the relay connects), `{ "dialIn": "HOST:PORT" }` (QEMU connects to a per-VM
 * port) or `{ "dialInTls": "sha256:…" | "cn:…" }` (QEMU connects to the `vmTls` listener).
 */
export function parseTarget(value: unknown, what: string): TargetConfig {
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    return parseHostPort(value, what);
  const record = value as Record<string, unknown>;
  const keys = Object.keys(record);
  if (keys.length === 1 && keys[0] === 'dialInTls')
    return tlsDialInTarget(parseVmCertId(record['dialInTls'], `${what}.dialInTls`));
  if (keys.length !== 1 || keys[0] !== 'dialIn') {
    throw invalid(
      `${what} must be "HOST:PORT" or { "dialIn": "HOST:PORT" } or { "dialInTls": "sha256:…" | "cn:…" }`,
    );
  }
  return { ...parseHostPort(record['dialIn'], `${what}.dialIn`), isDialIn: true };
}

export function positiveInt(value: unknown, what: string): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value <= 0) {
    throw invalid(`${what} must be a positive integer, got ${JSON.stringify(value)}`);
  }
  return value;
}

export function stringList(value: unknown, what: string): string[] {
  if (!Array.isArray(value) || !value.every((v) => typeof v === 'string' && v !== '')) {
    throw invalid(`${what} must be an array of non-empty strings`);
  }
  return value as string[];
}

/** A comma-separated flag value as a list (blank entries dropped). */
export function commaList(value: string): string[] {
  return value
    .split(',')
    .map((v) => v.trim())
    .filter((v) => v !== '');
}

/** An object (not null, not an array) or undefined. */
export function asObject(value: unknown): Record<string, unknown> | undefined {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
    ? (value as Record<string, unknown>)
    : undefined;
}

/**
 * Refuses the first key of a config-file object that is not in `allowed`:
 * `SOURCE: unknown key "AT.KEY" (allowed: a, b)`. `at` is the object's dotted path in the file
 * (`"vmTls"`, `"operator.tls"`), `""` for the top level.
 */
export function checkKnownKeys(
  obj: Record<string, unknown>,
  allowed: readonly string[],
  source: string,
  at: string,
): void {
  const unknown = Object.keys(obj).find((k) => !allowed.includes(k));
  if (unknown === undefined) return;
  const key = at === '' ? unknown : `${at}.${unknown}`;
  throw invalid(`${source}: unknown key "${key}" (allowed: ${allowed.join(', ')})`);
}

/**
 * `obj[key]` as a PEM file path resolved against `baseDir` (the config file's directory);
 * anything but a non-empty string is `SOURCE: "AT.KEY" must be a PEM file path`.
 */
export function pemFilePath(
  obj: Record<string, unknown>,
  key: string,
  source: string,
  at: string,
  baseDir: string,
): string {
  const file = obj[key];
  if (typeof file !== 'string' || file === '')
    throw invalid(`${source}: "${at}.${key}" must be a PEM file path`);
  return path.resolve(baseDir, file);
}

const CERT_KEY_CA_KEYS = ['cert', 'key', 'ca'] as const;

/**
 * A config-file object `{ "cert": FILE, "key": FILE, "ca": FILE }` at `at` (`"operator.tls"`,
 * `"cluster.linkTls"`): all three PEM file paths, resolved against `baseDir`, and no other key.
 */
export function certKeyCaFiles(
  value: unknown,
  source: string,
  at: string,
  baseDir: string,
): CertKeyCaFiles {
  const t = asObject(value);
  if (!t)
    throw invalid(`${source}: "${at}" must be an object { "cert": FILE, "key": FILE, "ca": FILE }`);
  checkKnownKeys(t, CERT_KEY_CA_KEYS, source, at);
  const pem = (key: (typeof CERT_KEY_CA_KEYS)[number]): string => {
    if (t[key] === undefined) throw invalid(`${source}: "${at}" lacks "${key}"`);
    return pemFilePath(t, key, source, at, baseDir);
  };
  return { certFile: pem('cert'), keyFile: pem('key'), caFile: pem('ca') };
}
