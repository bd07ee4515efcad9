/**
 * Test PKI for TLS dial-in, made in-process with @peculiar/x509 + WebCrypto (ECDSA P-256):
 * a CA, server certificates for the relay (SAN IP:127.0.0.1 and DNS:localhost) and client
 * certificates for VMs, with the extensions QEMU's sanity checks expect (QEMU
 * docs/system/tls.rst: basic constraints, key usage, key purpose).
 */
import { createHash, webcrypto } from 'node:crypto';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import 'reflect-metadata'; // @peculiar/x509 uses tsyringe, which needs the Reflect metadata API
import * as x509 from '@peculiar/x509';

const ALG = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;
const subtle = webcrypto.subtle;
type KeyPair = webcrypto.CryptoKeyPair;

/** A certificate and its key, PEM. */
export interface Pem {
  cert: string;
  key: string;
  /** SHA-256 fingerprint of the certificate, `AB:CD:…`. */
  sha256: string;
}

/** A CA that can issue server and client certificates. */
export interface TestCa {
  cert: string;
  /** Subject alt names default to IP:127.0.0.1 and DNS:localhost. */
  issueServer(cn: string, opts?: { notAfter?: Date; sans?: x509.JsonGeneralName[] }): Promise<Pem>;
  issueClient(cn: string, opts?: { notAfter?: Date }): Promise<Pem>;
  /** Both purposes (TLS server and client), as a cluster node's link certificate needs. */
  issueNode(cn: string): Promise<Pem>;
}

let serial = 1;

function nextSerial(): string {
  return (serial++).toString(16).padStart(4, '0');
}

async function keyPem(key: webcrypto.CryptoKey): Promise<string> {
  return x509.PemConverter.encode(await subtle.exportKey('pkcs8', key), 'PRIVATE KEY');
}

function fingerprint(cert: x509.X509Certificate): string {
  const hex = createHash('sha256').update(new Uint8Array(cert.rawData)).digest('hex');
  return (hex.toUpperCase().match(/../g) as string[]).join(':');
}

/** Makes a fresh self-signed CA. */
export async function makeCa(cn = 'cardlend test VM CA'): Promise<TestCa> {
  const keys = (await subtle.generateKey(ALG, true, ['sign', 'verify'])) as KeyPair;
  const notBefore = new Date(Date.now() - 3600_000);
  const notAfter = new Date(Date.now() + 7 * 24 * 3600_000);
  const ca = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: nextSerial(),
    name: `CN=${cn}`,
    notBefore,
    notAfter,
    signingAlgorithm: ALG,
    keys,
    extensions: [
      new x509.BasicConstraintsExtension(true, undefined, true),
      new x509.KeyUsagesExtension(
        x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign,
        true,
      ),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  const issue = async (
    subjectCn: string,
    purposes: x509.ExtendedKeyUsage[],
    sans: x509.JsonGeneralName[],
    leafNotAfter: Date,
  ): Promise<Pem> => {
    const leafKeys = (await subtle.generateKey(ALG, true, ['sign', 'verify'])) as KeyPair;
    const cert = await x509.X509CertificateGenerator.create({
      serialNumber: nextSerial(),
      subject: `CN=${subjectCn}`,
      issuer: ca.subject,
      notBefore,
      notAfter: leafNotAfter,
      signingAlgorithm: ALG,
      publicKey: leafKeys.publicKey,
      signingKey: keys.privateKey,
      extensions: [
        new x509.BasicConstraintsExtension(false, undefined, true),
        new x509.KeyUsagesExtension(
          x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment,
          true,
        ),
        new x509.ExtendedKeyUsageExtension(purposes, false),
        ...(sans.length > 0 ? [new x509.SubjectAlternativeNameExtension(sans, false)] : []),
        await x509.AuthorityKeyIdentifierExtension.create(ca, false),
        await x509.SubjectKeyIdentifierExtension.create(leafKeys.publicKey),
      ],
    });
    return {
      cert: cert.toString('pem'),
      key: await keyPem(leafKeys.privateKey),
      sha256: fingerprint(cert),
    };
  };
  const { serverAuth, clientAuth } = x509.ExtendedKeyUsage;
  return {
    cert: ca.toString('pem'),
    issueServer: (subjectCn, opts = {}) =>
      issue(
        subjectCn,
        [serverAuth],
        opts.sans ?? [
          { type: 'ip', value: '127.0.0.1' },
          { type: 'dns', value: 'localhost' },
        ],
        opts.notAfter ?? notAfter,
      ),
    issueClient: (subjectCn, opts = {}) =>
      issue(subjectCn, [clientAuth], [], opts.notAfter ?? notAfter),
    issueNode: (subjectCn) => issue(subjectCn, [serverAuth, clientAuth], [], notAfter),
  };
}

/** A fresh temporary directory. */
export function tempDir(prefix = 'cardlend-vm-tls-'): string {
  return mkdtempSync(path.join(os.tmpdir(), prefix));
}

/** Writes the relay's side: server.crt, server.key, vm-ca.crt; returns their paths. */
export function writeRelayFiles(
  dir: string,
  server: Pem,
  vmCaCert: string,
): { certFile: string; keyFile: string; caFile: string } {
  const certFile = path.join(dir, 'server.crt');
  const keyFile = path.join(dir, 'server.key');
  const caFile = path.join(dir, 'vm-ca.crt');
  writeFileSync(certFile, server.cert);
  writeFileSync(keyFile, server.key, { mode: 0o600 });
  writeFileSync(caFile, vmCaCert);
  return { certFile, keyFile, caFile };
}

/**
 * Writes a QEMU client credentials directory (`tls-creds-x509,endpoint=client`): ca-cert.pem,
 * client-cert.pem, client-key.pem. QEMU checks both the relay's certificate and, at start, its
 * own client certificate against ca-cert.pem, so `caCerts` must hold both issuers.
 */
export function writeQemuClientDir(
  parent: string,
  name: string,
  caCerts: readonly string[],
  client: Pem,
): string {
  const dir = path.join(parent, name);
  mkdirSync(dir);
  writeFileSync(path.join(dir, 'ca-cert.pem'), caCerts.join(''));
  writeFileSync(path.join(dir, 'client-cert.pem'), client.cert);
  writeFileSync(path.join(dir, 'client-key.pem'), client.key, { mode: 0o600 });
  return dir;
}
