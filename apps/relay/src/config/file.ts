/**
 * The JSON configuration file (`--config FILE`), applied onto a {@link ConfigDraft}. Pure:
 * the caller has read and JSON-parsed the file; paths in it are resolved against `baseDir`
 * (the file's directory) and nothing is read here. Errors name the file and the key.
 */
import path from 'node:path';
import { parseClusterFile } from '../cluster/config.ts';
import { parseEndpointAllowlist } from '../cluster/endpoints.ts';
import { DEFAULT_MESSAGE_RATE } from '../limits/rate-limit.ts';
import { parseOperatorFile } from '../operator/config.ts';
import type { HttpLimitsOptions } from '../limits/http-limits.ts';
import type { ClusterConfig, ConfigDraft, TargetConfig } from './types.ts';
import {
  asObject,
  checkKnownKeys,
  invalid,
  parseHostPort,
  parseTarget,
  pemFilePath,
  positiveInt,
  stringList,
} from './values.ts';

export const FILE_KEYS = [
  'cert',
  'key',
  'trustedProxies',
  'messageRatePerSecond',
  'messageBurst',
  'slowReaderTimeoutMs',
  'tokenSecretFiles',
  'allowAnonymous',
  'allowedOrigins',
  'authTimeoutMs',
  'idleTimeoutMs',
  'pingIntervalMs',
  'maxSessions',
  'maxSessionsPerAddress',
  'listen',
  'target',
  'targets',
  'defaultTarget',
  'static',
  'connectTimeoutMs',
  'cleanupAckTimeoutMs',
  'maxBufferedToBrowserBytes',
  'resumeGraceMs',
  'http',
  'vmTls',
  'cluster',
  'operator',
  'vmEndpoints',
] as const;

/** Keys of the config file's `"vmTls"` object. */
const VM_TLS_KEYS = ['listen', 'cert', 'key', 'ca', 'targetFromCn'] as const;

/** Keys of the config file's `"http"` object (limits/http-limits.ts). */
const HTTP_KEYS = [
  'headersTimeoutMs',
  'requestTimeoutMs',
  'keepAliveTimeoutMs',
  'maxHeaderBytes',
] as const;

/** Positive integer keys that map one to one onto the configuration. */
const INT_KEYS = [
  'connectTimeoutMs',
  'cleanupAckTimeoutMs',
  'maxBufferedToBrowserBytes',
  'authTimeoutMs',
  'pingIntervalMs',
  'maxSessions',
  'maxSessionsPerAddress',
  'slowReaderTimeoutMs',
  'resumeGraceMs',
] as const;

/** Where a file's values are read: its name for errors and its directory for relative paths. */
interface Source {
  readonly name: string;
  readonly baseDir: string;
}

/** Applies a parsed JSON config file onto `draft`. `source` names the file in errors. */
export function applyConfigFile(
  draft: ConfigDraft,
  json: unknown,
  source: string,
  baseDir: string,
): void {
  const obj = asObject(json);
  if (!obj) throw invalid(`${source}: the top level must be a JSON object`);
  checkKnownKeys(obj, FILE_KEYS, source, '');
  const src: Source = { name: source, baseDir };
  applyEndpoints(draft, obj, src);
  applyLimits(draft, obj, src);
  applyAccess(draft, obj, src);
  if ('http' in obj) draft.http = parseHttp(obj['http'], src);
  if ('vmTls' in obj) draft.vmTls = parseVmTls(obj['vmTls'], src);
  // Completed (and checked) once the flags are applied (config/args.ts).
  if ('cluster' in obj)
    draft.cluster = parseClusterFile(obj['cluster'], source, baseDir) as ClusterConfig;
  if ('operator' in obj) draft.operator = parseOperatorFile(obj['operator'], source, baseDir);
  if ('vmEndpoints' in obj) draft.vmEndpoints = parseEndpointAllowlist(obj['vmEndpoints'], source);
}

function applyEndpoints(draft: ConfigDraft, obj: Record<string, unknown>, src: Source): void {
  const at = (key: string) => `${src.name}: "${key}"`;
  if ('listen' in obj) draft.listen = parseHostPort(obj['listen'], at('listen'));
  if ('target' in obj && 'targets' in obj)
    throw invalid(`${src.name}: give either "target" or "targets", not both`);
  if ('target' in obj) draft.targets = { default: parseHostPort(obj['target'], at('target')) };
  if ('targets' in obj) {
    draft.targets = parseTargets(obj['targets'], src);
    if (!('defaultTarget' in obj) && !('default' in draft.targets))
      draft.defaultTarget = Object.keys(draft.targets)[0] as string;
  }
  if ('defaultTarget' in obj) {
    if (typeof obj['defaultTarget'] !== 'string')
      throw invalid(`${src.name}: "defaultTarget" must be a string`);
    draft.defaultTarget = obj['defaultTarget'];
  }
  if ('static' in obj) {
    if (typeof obj['static'] !== 'string' || obj['static'] === '')
      throw invalid(`${src.name}: "static" must be a directory path`);
    draft.staticDir = path.resolve(src.baseDir, obj['static']);
  }
}

function parseTargets(value: unknown, src: Source): Record<string, TargetConfig> {
  const t = asObject(value);
  if (!t)
    throw invalid(`${src.name}: "targets" must be an object mapping target ids to "HOST:PORT"`);
  const targets: Record<string, TargetConfig> = {};
  for (const [id, v] of Object.entries(t)) {
    if (!/^[A-Za-z0-9._-]{1,64}$/.test(id)) {
      throw invalid(
        `${src.name}: target id "${id}" may only use letters, digits, '.', '_' and '-' (1–64 chars)`,
      );
    }
    targets[id] = parseTarget(v, `${src.name}: "targets.${id}"`);
  }
  if (Object.keys(targets).length === 0) throw invalid(`${src.name}: "targets" is empty`);
  return targets;
}

function applyLimits(draft: ConfigDraft, obj: Record<string, unknown>, src: Source): void {
  const at = (key: string) => `${src.name}: "${key}"`;
  for (const key of INT_KEYS) if (key in obj) draft[key] = positiveInt(obj[key], at(key));
  if ('idleTimeoutMs' in obj) {
    const v = obj['idleTimeoutMs'];
    draft.idleTimeoutMs = v === 0 ? 0 : positiveInt(v, `${at('idleTimeoutMs')} (0 = never)`);
  }
  if ('messageRatePerSecond' in obj || 'messageBurst' in obj) {
    const rate = draft.messageRate ?? { ...DEFAULT_MESSAGE_RATE };
    draft.messageRate = {
      ratePerSecond:
        'messageRatePerSecond' in obj
          ? positiveInt(obj['messageRatePerSecond'], at('messageRatePerSecond'))
          : rate.ratePerSecond,
      burst:
        'messageBurst' in obj ? positiveInt(obj['messageBurst'], at('messageBurst')) : rate.burst,
    };
  }
}

function applyAccess(draft: ConfigDraft, obj: Record<string, unknown>, src: Source): void {
  const at = (key: string) => `${src.name}: "${key}"`;
  if ('cert' in obj || 'key' in obj) {
    const { cert, key } = obj;
    if (typeof cert !== 'string' || typeof key !== 'string' || cert === '' || key === '')
      throw invalid(`${src.name}: "cert" and "key" must both be given as PEM file paths`);
    draft.tls = {
      certFile: path.resolve(src.baseDir, cert),
      keyFile: path.resolve(src.baseDir, key),
    };
  }
  if ('trustedProxies' in obj)
    draft.trustedProxies = stringList(obj['trustedProxies'], at('trustedProxies'));
  if ('allowAnonymous' in obj) {
    if (typeof obj['allowAnonymous'] !== 'boolean')
      throw invalid(`${at('allowAnonymous')} must be true or false`);
    draft.isAnonymousAllowed = obj['allowAnonymous'];
  }
  if ('allowedOrigins' in obj)
    draft.allowedOrigins = stringList(obj['allowedOrigins'], at('allowedOrigins'));
  if ('tokenSecretFiles' in obj) {
    draft.tokenSecretFiles = stringList(obj['tokenSecretFiles'], at('tokenSecretFiles')).map((f) =>
      path.resolve(src.baseDir, f),
    );
    draft.tokenSecretSetting = at('tokenSecretFiles');
  }
}

function parseHttp(value: unknown, src: Source): HttpLimitsOptions {
  const h = asObject(value);
  if (!h) throw invalid(`${src.name}: "http" must be an object (keys: ${HTTP_KEYS.join(', ')})`);
  checkKnownKeys(h, HTTP_KEYS, src.name, 'http');
  const http: { -readonly [K in keyof HttpLimitsOptions]: HttpLimitsOptions[K] } = {};
  for (const [key, v] of Object.entries(h)) {
    http[key as (typeof HTTP_KEYS)[number]] = positiveInt(v, `${src.name}: "http.${key}"`);
  }
  return http;
}

function parseVmTls(value: unknown, src: Source): ConfigDraft['vmTls'] {
  const shape = `{ "listen": "HOST:PORT", "cert": FILE, "key": FILE, "ca": FILE }`;
  const vt = asObject(value);
  if (!vt) throw invalid(`${src.name}: "vmTls" must be an object ${shape}`);
  checkKnownKeys(vt, VM_TLS_KEYS, src.name, 'vmTls');
  const missing = VM_TLS_KEYS.filter((k) => k !== 'targetFromCn' && !(k in vt));
  const fromCn = vt['targetFromCn'];
  if (fromCn !== undefined && typeof fromCn !== 'boolean')
    throw invalid(`${src.name}: "vmTls.targetFromCn" must be true or false`);
  if (missing.length > 0)
    throw invalid(`${src.name}: "vmTls" lacks ${missing.map((k) => `"${k}"`).join(', ')}`);
  const file = (key: 'cert' | 'key' | 'ca'): string =>
    pemFilePath(vt, key, src.name, 'vmTls', src.baseDir);
  return {
    listen: parseHostPort(vt['listen'], `${src.name}: "vmTls.listen"`),
    certFile: file('cert'),
    keyFile: file('key'),
    caFile: file('ca'),
    ...(fromCn === true ? { isTargetFromCn: true } : {}),
  };
}
