// Issuing X.509 with @peculiar/x509 on Node's WebCrypto: the hub CA, server certificates and
// station certificates from CSRs. Node can parse X.509 but not issue it.

import 'reflect-metadata';
import {
  webcrypto,
  X509Certificate as NodeX509,
  createHash,
  createPublicKey,
  randomBytes,
} from 'node:crypto';
import { isIP } from 'node:net';
import * as x509 from '@peculiar/x509';
import { LifelineError } from '../common/errors.js';

x509.cryptoProvider.set(webcrypto);

const keyAlgorithm = { name: 'ECDSA', namedCurve: 'P-256' } as const;
const signingAlgorithm = { name: 'ECDSA', hash: 'SHA-256' } as const;

export interface KeyAndCert {
  keyPem: string;
  certPem: string;
}

function toPem(der: ArrayBuffer, label: string): string {
  const b64 = Buffer.from(der).toString('base64');
  return `-----BEGIN ${label}-----\n${b64.replace(/.{64}/g, '$&\n').replace(/\n$/, '')}\n-----END ${label}-----\n`;
}

function fromPem(pem: string): Buffer {
  return Buffer.from(pem.replace(/-----[A-Z ]+-----/g, '').replace(/\s+/g, ''), 'base64');
}

async function generateKeys(): Promise<webcrypto.CryptoKeyPair> {
  return await webcrypto.subtle.generateKey(keyAlgorithm, true, ['sign', 'verify']);
}

async function exportPrivatePem(key: webcrypto.CryptoKey): Promise<string> {
  return toPem(await webcrypto.subtle.exportKey('pkcs8', key), 'PRIVATE KEY');
}

async function importPrivatePem(pem: string): Promise<webcrypto.CryptoKey> {
  return webcrypto.subtle.importKey('pkcs8', fromPem(pem), keyAlgorithm, false, ['sign']);
}

function serial(): string {
  // Positive 128-bit serial.
  const bytes = randomBytes(16);
  bytes[0] = (bytes[0] ?? 0) & 0x7f;
  return bytes.toString('hex');
}

export async function createCa(
  commonName: string,
  validityMs: number,
  nowMs = Date.now(),
): Promise<KeyAndCert> {
  const keys = await generateKeys();
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serial(),
    name: `CN=${commonName}`,
    notBefore: new Date(nowMs - 60_000),
    notAfter: new Date(nowMs + validityMs),
    keys,
    signingAlgorithm,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  return { keyPem: await exportPrivatePem(keys.privateKey), certPem: cert.toString('pem') + '\n' };
}

/** crlUrl, when given, is named as the certificate's CRL distribution point. */
export async function issueServerCert(
  ca: KeyAndCert,
  hosts: string[],
  validityMs: number,
  nowMs = Date.now(),
  crlUrl?: string,
): Promise<KeyAndCert> {
  const keys = await generateKeys();
  const caCert = new x509.X509Certificate(ca.certPem);
  const names = hosts.map((host) =>
    isIP(host) ? { type: 'ip' as const, value: host } : { type: 'dns' as const, value: host },
  );
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: serial(),
    subject: `CN=${hosts[0] ?? 'lifeline-hub'}`,
    issuer: caCert.subject,
    notBefore: new Date(nowMs - 60_000),
    notAfter: new Date(nowMs + validityMs),
    publicKey: keys.publicKey,
    signingKey: await importPrivatePem(ca.keyPem),
    signingAlgorithm,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth], false),
      new x509.SubjectAlternativeNameExtension(names, false),
      await x509.AuthorityKeyIdentifierExtension.create(caCert, false),
      ...(crlUrl === undefined ? [] : [new x509.CRLDistributionPointsExtension([crlUrl], false)]),
    ],
  });
  return { keyPem: await exportPrivatePem(keys.privateKey), certPem: cert.toString('pem') + '\n' };
}

/** The common name of a hub node's certificate: `lifeline-node:` and the node's id. */
export const nodeCertPrefix = 'lifeline-node:';

/**
 * A hub node's certificate for the links between the nodes of a cluster: a client and server
 * certificate from the cluster CA naming the node's id. Station certificates name a Station ID,
 * so neither can pass for the other.
 */
export async function issueNodeCert(
  ca: KeyAndCert,
  nodeId: string,
  validityMs: number,
  nowMs = Date.now(),
): Promise<KeyAndCert> {
  const keys = await generateKeys();
  const caCert = new x509.X509Certificate(ca.certPem);
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: serial(),
    subject: `CN=${nodeCertPrefix}${nodeId}`,
    issuer: caCert.subject,
    notBefore: new Date(nowMs - 60_000),
    notAfter: new Date(nowMs + validityMs),
    publicKey: keys.publicKey,
    signingKey: await importPrivatePem(ca.keyPem),
    signingAlgorithm,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension(
        [x509.ExtendedKeyUsage.clientAuth, x509.ExtendedKeyUsage.serverAuth],
        false,
      ),
      await x509.AuthorityKeyIdentifierExtension.create(caCert, false),
    ],
  });
  return { keyPem: await exportPrivatePem(keys.privateKey), certPem: cert.toString('pem') + '\n' };
}

/** On the appliance: a new key pair and a CSR for it. The private key stays with the caller. */
export async function createKeyAndCsr(commonName: string): Promise<{ keyPem: string; csrPem: string }> {
  const keys = await generateKeys();
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({
    name: `CN=${commonName}`,
    keys,
    signingAlgorithm,
  });
  return { keyPem: await exportPrivatePem(keys.privateKey), csrPem: csr.toString('pem') + '\n' };
}

/**
 * On the hub: a client certificate for a station from its CSR. The CSR's own subject is ignored:
 * the certificate names the Station ID the hub assigned.
 */
/** The public key of a well-formed, self-signed P-256 CSR; ENROLL_CSR_INVALID otherwise. */
export async function verifyCsr(csrPem: string): Promise<webcrypto.CryptoKey> {
  let csr: x509.Pkcs10CertificateRequest;
  try {
    csr = new x509.Pkcs10CertificateRequest(csrPem);
  } catch (err) {
    throw new LifelineError('ENROLL_CSR_INVALID', 'the certificate request could not be parsed', {
      cause: err,
    });
  }
  if (!(await csr.verify())) {
    throw new LifelineError('ENROLL_CSR_INVALID', 'the certificate request is not signed by its own key');
  }
  // The key is read back through Node's own WebCrypto, whose CryptoKey type the rest of the hub uses.
  const spki = csr.publicKey.rawData;
  const details = createPublicKey({
    key: Buffer.from(spki),
    format: 'der',
    type: 'spki',
  }).asymmetricKeyDetails;
  if (details?.namedCurve !== 'prime256v1') {
    throw new LifelineError('ENROLL_CSR_INVALID', 'the certificate request must use an ECDSA P-256 key');
  }
  return webcrypto.subtle.importKey('spki', spki, keyAlgorithm, true, ['verify']);
}

export async function signStationCsr(
  ca: KeyAndCert,
  csrPem: string,
  stationId: string,
  validityMs: number,
  nowMs = Date.now(),
): Promise<string> {
  const publicKey = await verifyCsr(csrPem);
  const caCert = new x509.X509Certificate(ca.certPem);
  // Backdated for clocks a little behind, but by a tenth of the life at most: agents renew at half
  // the certificate's life, which a 60 s backdate on a 60 s certificate would put at issuance.
  const backdateMs = Math.min(60_000, Math.floor(validityMs / 10));
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: serial(),
    subject: `CN=${stationId}`,
    issuer: caCert.subject,
    notBefore: new Date(nowMs - backdateMs),
    notAfter: new Date(nowMs + validityMs),
    publicKey,
    signingKey: await importPrivatePem(ca.keyPem),
    signingAlgorithm,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.clientAuth], false),
      await x509.AuthorityKeyIdentifierExtension.create(caCert, false),
    ],
  });
  return cert.toString('pem') + '\n';
}

/** A certificate's serial number as lower-case hex, byte for byte as issued (as a CRL lists it). */
export function certSerial(certPem: string): string {
  return new x509.X509Certificate(certPem).serialNumber.toLowerCase();
}

/** SHA-256 of a certificate's DER, lower-case hex: the CA pin in enrollment tokens. */
export function certSha256(certPem: string): string {
  return createHash('sha256').update(new NodeX509(certPem).raw).digest('hex');
}

export function certSha256OfDer(der: Buffer): string {
  return createHash('sha256').update(der).digest('hex');
}

export function certNotAfterMs(certPem: string): number {
  return Date.parse(new NodeX509(certPem).validTo);
}

export function derToPem(der: Buffer): string {
  return toPem(
    der.buffer.slice(der.byteOffset, der.byteOffset + der.byteLength) as ArrayBuffer,
    'CERTIFICATE',
  );
}
