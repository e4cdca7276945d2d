// The TLS settings of the hub's two ports, as values (no sockets here): which versions, cipher
// suites, key-exchange groups and HTTP security headers. docs/protocol.md ("TLS") explains them;
// test/slow/testssl.test.ts checks them from outside with testssl.sh.

/**
 * TLS 1.3 suites, all AEAD. AES-128-GCM first because it carries the most bytes per CPU cycle
 * (AES-NI); ChaCha20 for machines without AES instructions.
 */
export const tls13CipherSuites = [
  'TLS_AES_128_GCM_SHA256',
  'TLS_AES_256_GCM_SHA384',
  'TLS_CHACHA20_POLY1305_SHA256',
] as const;

/**
 * TLS 1.2 suites (technician API only): ECDHE key exchange (forward secrecy) with an AEAD cipher;
 * no CBC, no RSA key transport, no SHA-1 MAC. The hub's certificates are ECDSA; the RSA-signed
 * variants serve an operator who installs an RSA certificate instead, and are never chosen otherwise.
 */
export const tls12CipherSuites = [
  'ECDHE-ECDSA-AES128-GCM-SHA256',
  'ECDHE-ECDSA-AES256-GCM-SHA384',
  'ECDHE-ECDSA-CHACHA20-POLY1305',
  'ECDHE-RSA-AES128-GCM-SHA256',
  'ECDHE-RSA-AES256-GCM-SHA384',
  'ECDHE-RSA-CHACHA20-POLY1305',
] as const;

/** Key-exchange groups, preferred first: no finite-field Diffie-Hellman at all. */
export const tlsKeyExchangeGroups = 'X25519:P-256:P-384';

/**
 * Signature algorithms of the station port's handshakes (the hub's and the stations' keys are all
 * ECDSA, made by Lifeline): nothing else is offered or accepted.
 */
export const stationPortSignatureAlgorithms = 'ecdsa_secp256r1_sha256:ecdsa_secp384r1_sha384';

/**
 * Signature algorithms of the technician API: ECDSA for the hub's own certificate, RSA-PSS (TLS 1.2
 * and 1.3) and PKCS#1 v1.5 (TLS 1.2 only; TLS 1.3 never uses it in a handshake) for an operator
 * who installs an RSA certificate. No SHA-1, no SHA-224.
 */
export const technicianApiSignatureAlgorithms = [
  'ecdsa_secp256r1_sha256',
  'ecdsa_secp384r1_sha384',
  'rsa_pss_rsae_sha256',
  'rsa_pss_rsae_sha384',
  'rsa_pss_rsae_sha512',
  'rsa_pkcs1_sha256',
  'rsa_pkcs1_sha384',
  'rsa_pkcs1_sha512',
].join(':');

/** The technician API: TLS 1.2 and 1.3, the server's cipher order. */
export const technicianApiTls = {
  minVersion: 'TLSv1.2',
  ciphers: [...tls13CipherSuites, ...tls12CipherSuites].join(':'),
  ecdhCurve: tlsKeyExchangeGroups,
  sigalgs: technicianApiSignatureAlgorithms,
  honorCipherOrder: true,
} as const;

/** The station port: TLS 1.3 only (agents are ours; there is no old client to serve). */
export const stationPortTls = {
  minVersion: 'TLSv1.3',
  ciphers: tls13CipherSuites.join(':'),
  ecdhCurve: tlsKeyExchangeGroups,
  sigalgs: stationPortSignatureAlgorithms,
  honorCipherOrder: true,
} as const;

/**
 * Headers on every answer of the technician API. It serves JSON to programs, never pages: nothing
 * may frame, sniff or cache it, and browsers keep to HTTPS for a year (HSTS).
 */
export const technicianApiSecurityHeaders = {
  'strict-transport-security': 'max-age=31536000',
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'content-security-policy': "default-src 'none'; frame-ancestors 'none'",
  'referrer-policy': 'no-referrer',
  'cache-control': 'no-store',
} as const;
