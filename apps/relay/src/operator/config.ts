/**
 * The config file's `"operator": { "listen": "HOST:PORT", "secretFile": FILE, "tls"?: { "cert":
 * FILE, "key": FILE, "ca": FILE } }` (pure; paths relative to the config file).
 */
import path from 'node:path';
import type { OperatorConfig, OperatorTlsConfig } from '../config/types.ts';
import { asObject, checkKnownKeys, invalid, parseHostPort, pemFilePath } from '../config/values.ts';

const OPERATOR_KEYS = ['listen', 'secretFile', 'tls'] as const;
const TLS_KEYS = ['cert', 'key', 'ca'] as const;

export function parseOperatorFile(value: unknown, source: string, baseDir: string): OperatorConfig {
  const o = asObject(value);
  const shape = '{ "listen": "HOST:PORT", "secretFile": FILE, "tls"?: { "cert", "key", "ca" } }';
  if (!o) throw invalid(`${source}: "operator" must be an object ${shape}`);
  checkKnownKeys(o, OPERATOR_KEYS, source, 'operator');
  const file = o['secretFile'];
  if (typeof file !== 'string' || file === '')
    throw invalid(`${source}: "operator.secretFile" must be a file path`);
  return {
    listen: parseHostPort(o['listen'], `${source}: "operator.listen"`),
    secretFile: path.resolve(baseDir, file),
    ...('tls' in o ? { tls: parseOperatorTls(o['tls'], source, baseDir) } : {}),
  };
}

/** `"operator.tls"`: all three PEM file paths, nothing else. */
function parseOperatorTls(value: unknown, source: string, baseDir: string): OperatorTlsConfig {
  const t = asObject(value);
  if (!t)
    throw invalid(
      `${source}: "operator.tls" must be an object { "cert": FILE, "key": FILE, "ca": FILE }`,
    );
  checkKnownKeys(t, TLS_KEYS, source, 'operator.tls');
  const pem = (key: (typeof TLS_KEYS)[number]): string => {
    if (t[key] === undefined) throw invalid(`${source}: "operator.tls" lacks "${key}"`);
    return pemFilePath(t, key, source, 'operator.tls', baseDir);
  };
  return { certFile: pem('cert'), keyFile: pem('key'), caFile: pem('ca') };
}
