/** The stderr banner: the QEMU options match the default target's kind (banner.ts). */
import { describe, expect, it } from 'vitest';
import { relayBanner } from '../src/banner.ts';
import { defaultConfig, type RelayConfig } from '../src/config.ts';

function config(target: RelayConfig['targets'][string]): RelayConfig {
  return { ...defaultConfig(), targets: { default: target }, defaultTarget: 'default' };
}
const at = {
  url: 'http://127.0.0.1:8080/',
  dialInPorts: new Map<string, number>(),
  vmTlsAddress: undefined,
};

describe('relayBanner', () => {
  it('relay connects to QEMU: the server form of the chardev', () => {
    const text = relayBanner(config({ host: '127.0.0.1', port: 35963 }), at);
    expect(text).toContain('Open in Chrome:  http://127.0.0.1:8080/');
    expect(text).toContain('VM target:       127.0.0.1:35963\n');
    expect(text).toContain(
      '-chardev socket,id=vscard,host=127.0.0.1,port=35963,server=on,wait=off,nodelay=on',
    );
    expect(text).not.toContain('tls-creds');
  });

  it('per-VM dial-in port: the client form with the bound port', () => {
    const text = relayBanner(config({ host: '10.0.2.1', port: 0, isDialIn: true }), {
      ...at,
      dialInPorts: new Map([['default', 40123]]),
    });
    expect(text).toContain(
      '-chardev socket,id=vscard,host=10.0.2.1,port=40123,reconnect=1,nodelay=on \\',
    );
    expect(text).not.toContain('server=on');
  });

  it('TLS dial-in: the tls-creds object, the chardev on the VM listener, and what DIR holds', () => {
    const text = relayBanner(
      config({ host: '0.0.0.0', port: 0, isDialIn: true, vmCert: { kind: 'cn', value: 'lab-4' } }),
      { ...at, vmTlsAddress: { host: '10.0.2.1', port: 7443 } },
    );
    expect(text).toContain('-object tls-creds-x509,id=tls0,dir=DIR,endpoint=client,verify-peer=on');
    expect(text).toContain(
      '-chardev socket,id=vscard,host=10.0.2.1,port=7443,reconnect=1,nodelay=on,tls-creds=tls0',
    );
    expect(text).toContain('client-cert.pem and client-key.pem');
    expect(text).toContain('(cn:lab-4)');
  });

  it('with token secrets, the default target is one of several', () => {
    const c = { ...config({ host: '127.0.0.1', port: 35963 }), tokenSecrets: [new Uint8Array(32)] };
    expect(relayBanner(c, at)).toContain('127.0.0.1:35963 (and the targets tokens name)');
  });
});
