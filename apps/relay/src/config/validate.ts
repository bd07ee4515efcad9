/**
 * Cross-field checks of a configuration (pure): the default target exists, dial-in addresses
 * are not shared, TLS dial-in targets have a VM listener and name distinct certificates, the
 * HTTP limits, proxies and origins compile, and a public listener has tokens (or says
 * `--allow-anonymous`).
 */
import { parseTrustedProxies } from '../auth/forwarded.ts';
import { createOriginPolicy, isLoopbackHost } from '../auth/origin.ts';
import { httpServerOptions } from '../limits/http-limits.ts';
import { VmCertIndex, type VmCertId } from '../vm-cert-id.ts';
import type { ConfigDraft, RelayConfig } from './types.ts';
import { invalid } from './values.ts';

/** A draft (token secret files) or a loaded configuration (token secrets). */
export type CheckableConfig =
  ConfigDraft | (Omit<ConfigDraft, 'tokenSecretFiles'> & Pick<RelayConfig, 'tokenSecrets'>);

/** Throws `RELAY_CONFIG_INVALID` naming the first inconsistency. */
export function validateConfig(config: CheckableConfig): void {
  if (!(config.defaultTarget in config.targets)) {
    throw invalid(
      `defaultTarget "${config.defaultTarget}" is not one of the targets (${Object.keys(config.targets).join(', ')})`,
    );
  }
  checkTargets(config);
  checkCompiled('http limits', () => httpServerOptions(config.http));
  checkCompiled('trusted proxies', () => parseTrustedProxies(config.trustedProxies));
  checkCompiled('allowed origins', () =>
    createOriginPolicy({ allowedOrigins: config.allowedOrigins, isLoopbackListener: true }),
  );
  const hasTokens =
    'tokenSecrets' in config ? config.tokenSecrets.length > 0 : config.tokenSecretFiles.length > 0;
  if (!hasTokens && !config.isAnonymousAllowed && !isLoopbackHost(config.listen.host)) {
    throw invalid(
      `listening on ${config.listen.host} (not loopback) without session tokens would let anyone on the network ` +
        `reach the VM: add --token-secret-file FILE, or --allow-anonymous on a trusted network`,
    );
  }
}

function checkTargets(config: CheckableConfig): void {
  const dialInPorts = new Set<string>();
  const vmCerts: [string, VmCertId][] = [];
  for (const [id, t] of Object.entries(config.targets)) {
    if (t.vmCert) {
      if (!config.vmTls)
        throw invalid(
          `target "${id}" dials in over TLS (${t.vmCert.kind}:${t.vmCert.value}) but no VM TLS listener is configured: add "vmTls" to the config file or --vm-tls-listen/--vm-tls-cert/--vm-tls-key/--vm-tls-ca`,
        );
      vmCerts.push([id, t.vmCert]);
      continue;
    }
    if (t.port === 0 && !t.isDialIn) throw invalid(`target "${id}": port 0 is not a VM port`);
    if (t.isDialIn && t.port !== 0) {
      const key = `${t.host}:${t.port}`;
      if (dialInPorts.has(key))
        throw invalid(`target "${id}": dial-in address ${key} is used by two targets`);
      dialInPorts.add(key);
    }
  }
  if (!config.vmTls) return;
  if (vmCerts.length === 0)
    throw invalid(
      'a VM TLS listener (vmTls / --vm-tls-*) is configured but no target dials in over TLS: give a target { "dialInTls": "sha256:…" | "cn:…" } or --dial-in-tls',
    );
  new VmCertIndex(vmCerts); // throws when two targets name the same certificate or CN
  const { host, port } = config.vmTls.listen;
  if (port === 0) return;
  const key = `${host}:${port}`;
  if (dialInPorts.has(key))
    throw invalid(`the VM TLS listener ${key} is also a target's dial-in address`);
  if (config.listen.host === host && config.listen.port === port)
    throw invalid(`the VM TLS listener ${key} is also the relay's --listen address`);
}

function checkCompiled(what: string, compile: () => unknown): void {
  try {
    compile();
  } catch (e) {
    throw invalid(`${what}: ${(e as Error).message}`, e);
  }
}
