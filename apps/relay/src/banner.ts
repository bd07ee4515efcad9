/**
 * The banner main.ts prints on stderr once the relay listens: the URL to open and the QEMU
 * options for the default target, in the form that target needs (the relay connects to QEMU's
 * listening chardev; QEMU dials in to a per-VM port; QEMU dials in over TLS with a client
 * certificate). Pure: config and bound addresses in, text out.
 */
import type { HostPort, RelayConfig } from './config.ts';

/** The id of the `tls-creds-x509` object the banner's TLS dial-in options define. */
export const BANNER_TLS_CREDS_ID = 'tls0';

/** What the banner needs from the started server. */
export interface BannerAddresses {
  /** The page's URL. */
  url: string;
  /** Bound per-VM dial-in ports by target id. */
  dialInPorts: ReadonlyMap<string, number>;
  /** The bound shared TLS listener for VMs, if any. */
  vmTlsAddress: HostPort | undefined;
}

/** The banner text, ending in a blank line. */
export function relayBanner(config: RelayConfig, at: BannerAddresses): string {
  const target = config.targets[config.defaultTarget];
  let host = target?.host ?? '127.0.0.1';
  let port = target?.port ?? 35963;
  const vmCert = target?.isDialIn ? target.vmCert : undefined;
  let qemu: string[];
  if (vmCert) {
    host = at.vmTlsAddress?.host ?? host;
    port = at.vmTlsAddress?.port ?? port;
    qemu = [
      `  -object tls-creds-x509,id=${BANNER_TLS_CREDS_ID},dir=DIR,endpoint=client,verify-peer=on \\`,
      `  -chardev socket,id=vscard,host=${host},port=${port},reconnect=1,nodelay=on,tls-creds=${BANNER_TLS_CREDS_ID} \\`,
    ];
  } else if (target?.isDialIn) {
    port = at.dialInPorts.get(config.defaultTarget) ?? port;
    qemu = [`  -chardev socket,id=vscard,host=${host},port=${port},reconnect=1,nodelay=on \\`];
  } else {
    qemu = [
      `  -chardev socket,id=vscard,host=${host},port=${port},server=on,wait=off,nodelay=on \\`,
    ];
  }
  const tls = vmCert
    ? [
        `DIR holds ca-cert.pem (the CA of the relay's VM certificate and of the VM's own),`,
        `client-cert.pem and client-key.pem, the VM's certificate (${vmCert.kind}:${vmCert.value}) and key.`,
        `host= must be a name in the relay's VM certificate (QEMU checks it).`,
        ``,
      ]
    : [];
  return [
    `cardlend relay listening.`,
    ``,
    `  Open in Chrome:  ${at.url}`,
    `  VM target:       ${host}:${port}${config.tokenSecrets.length > 0 ? ' (and the targets tokens name)' : ''}`,
    ``,
    `Start the VM (QEMU) with these options:`,
    `  -device qemu-xhci -device usb-ccid \\`,
    ...qemu,
    `  -device ccid-card-passthru,chardev=vscard`,
    ``,
    ...tls,
    ``,
  ].join('\n');
}
