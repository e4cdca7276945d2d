// Checks the hub makes by hand where TLS verification cannot help: a station certificate that
// failed verification only because it expired, and PEM bundles holding several certificates or keys.

import { X509Certificate } from 'node:crypto';

/** The PEM blocks of a bundle (several certificates or public keys concatenated), each with a newline. */
export function splitPemBundle(bundle: string): string[] {
  return [...bundle.matchAll(/-----BEGIN ([A-Z ]+)-----[\s\S]+?-----END \1-----/g)].map((m) => m[0] + '\n');
}

export type ExpiredCertVerdict =
  | { renewable: true; notAfterMs: number }
  | { renewable: false; notAfterMs: number | null; why: 'not-issued-by-hub' | 'past-grace' | 'not-expired' };

/**
 * May this certificate, which TLS refused as expired, still be renewed? Only if one of the CA
 * certificates signed it (its signature checked here, since TLS stopped at the expiry) and it
 * expired less than graceMs before nowMs.
 */
export function checkExpiredStationCert(
  certPem: string,
  caPems: readonly string[],
  nowMs: number,
  graceMs: number,
): ExpiredCertVerdict {
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(certPem);
  } catch {
    return { renewable: false, notAfterMs: null, why: 'not-issued-by-hub' };
  }
  const notAfterMs = Date.parse(cert.validTo);
  const issued = caPems.some((pem) => {
    try {
      const ca = new X509Certificate(pem);
      return cert.checkIssued(ca) && cert.verify(ca.publicKey);
    } catch {
      return false;
    }
  });
  if (!issued) return { renewable: false, notAfterMs, why: 'not-issued-by-hub' };
  if (notAfterMs > nowMs) return { renewable: false, notAfterMs, why: 'not-expired' };
  if (nowMs - notAfterMs >= graceMs) return { renewable: false, notAfterMs, why: 'past-grace' };
  return { renewable: true, notAfterMs };
}
