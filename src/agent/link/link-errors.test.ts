// The LINK_* vocabulary for Node's socket, TLS and HTTP/2 error codes (the dial tests in
// hub-dialer.test.ts meet each of them on real sockets); here the table, its fallbacks, and that
// our errors and foreign lookalikes are told apart.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LifelineError } from '../../common/errors.js';
import { isLinkFailure, isUnknownHubIssuer, linkCodeOf, toLinkError } from './link-errors.js';

const nodeError = (code: string, message = `failure ${code}`) => Object.assign(new Error(message), { code });

test('Node codes map to LINK_* codes', () => {
  const cases: [string, string | undefined][] = [
    ['ECONNREFUSED', 'LINK_REFUSED'],
    ['ENOTFOUND', 'LINK_UNREACHABLE'],
    ['EAI_AGAIN', 'LINK_UNREACHABLE'],
    ['EHOSTUNREACH', 'LINK_UNREACHABLE'],
    ['ENETUNREACH', 'LINK_UNREACHABLE'],
    ['ETIMEDOUT', 'LINK_TIMEOUT'],
    ['ERR_TLS_HANDSHAKE_TIMEOUT', 'LINK_TIMEOUT'],
    ['ECONNRESET', 'LINK_RESET'],
    ['EPIPE', 'LINK_RESET'],
    ['ERR_HTTP2_STREAM_ERROR', 'LINK_RESET'],
    ['ERR_HTTP2_GOAWAY_SESSION', 'LINK_RESET'],
    ['UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'LINK_TLS_UNTRUSTED'],
    ['SELF_SIGNED_CERT_IN_CHAIN', 'LINK_TLS_UNTRUSTED'],
    ['DEPTH_ZERO_SELF_SIGNED_CERT', 'LINK_TLS_UNTRUSTED'],
    ['ERR_TLS_CERT_ALTNAME_INVALID', 'LINK_TLS_UNTRUSTED'],
    ['CERT_HAS_EXPIRED', 'LINK_TLS_UNTRUSTED'],
    ['CERT_NOT_YET_VALID', 'LINK_TLS_UNTRUSTED'],
    ['ERR_SSL_TLSV1_ALERT_NO_APPLICATION_PROTOCOL', 'LINK_ALPN'],
    // Other TLS failures: not TLS at all, an alert, a version the peer does not speak.
    ['ERR_SSL_WRONG_VERSION_NUMBER', 'LINK_TLS_FAILED'],
    ['ERR_SSL_TLSV1_ALERT_PROTOCOL_VERSION', 'LINK_TLS_FAILED'],
    ['ERR_TLS_INVALID_STATE', 'LINK_TLS_FAILED'],
    // Not about the link: no code of ours.
    ['ENOENT', undefined],
    ['toString', undefined],
    ['', undefined],
  ];
  for (const [code, expected] of cases) assert.equal(linkCodeOf(nodeError(code)), expected, code);
  assert.equal(linkCodeOf(new Error('no code')), undefined);
  assert.equal(linkCodeOf('ECONNREFUSED'), undefined);
  assert.equal(linkCodeOf(null), undefined);
});

test('a LifelineError keeps its code; a foreign error that looks like ours does not pass for one', () => {
  assert.equal(linkCodeOf(new LifelineError('LINK_TIMEOUT', 'slow')), 'LINK_TIMEOUT');
  assert.equal(linkCodeOf(new LifelineError('PROXY_AUTH_REQUIRED', '407')), undefined);
  assert.equal(linkCodeOf(nodeError('LINK_REFUSED')), undefined);
});

test('toLinkError codes the failure, keeps it as the cause, and leaves our errors as they are', () => {
  const refused = nodeError('ECONNREFUSED', 'connect ECONNREFUSED 127.0.0.1:1');
  const coded = toLinkError(refused);
  assert.equal(coded.code, 'LINK_REFUSED');
  assert.equal(coded.message, 'connect ECONNREFUSED 127.0.0.1:1');
  assert.equal(coded.cause, refused);
  assert.equal(toLinkError(refused, 'the hub is not listening').message, 'the hub is not listening');
  // No code of ours: the fallback says where it happened.
  assert.equal(toLinkError(new Error('odd')).code, 'LINK_UNREACHABLE');
  assert.equal(toLinkError(new Error('odd'), undefined, 'LINK_RESET').code, 'LINK_RESET');
  assert.equal(toLinkError('a string').message, 'a string');
  const ours = new LifelineError('PROXY_AUTH_REQUIRED', 'the proxy asks for authentication');
  assert.equal(toLinkError(ours), ours);
});

test('isLinkFailure: LINK_* and PROXY_* are the way to the hub, an answer of the hub is not', () => {
  assert.ok(isLinkFailure(new LifelineError('LINK_RESET', 'reset')));
  assert.ok(isLinkFailure(new LifelineError('PROXY_CONNECT_REFUSED', '403')));
  assert.ok(!isLinkFailure(new LifelineError('STATION_REVOKED', 'revoked')));
  assert.ok(!isLinkFailure(nodeError('ECONNRESET')));
});

test('isUnknownHubIssuer finds an unknown issuer anywhere in the cause chain, and only that', () => {
  const leaf = nodeError('UNABLE_TO_VERIFY_LEAF_SIGNATURE');
  const dial = new LifelineError('LINK_TLS_UNTRUSTED', 'not issued by the pinned hub CA', { cause: leaf });
  const request = new LifelineError('LINK_TLS_UNTRUSTED', 'the hub is not reachable', { cause: dial });
  assert.ok(isUnknownHubIssuer(leaf));
  assert.ok(isUnknownHubIssuer(request));
  assert.ok(isUnknownHubIssuer(nodeError('SELF_SIGNED_CERT_IN_CHAIN')));
  // Trusted issuer, wrong name or validity: not a rotation the agent missed.
  assert.ok(!isUnknownHubIssuer(nodeError('ERR_TLS_CERT_ALTNAME_INVALID')));
  assert.ok(!isUnknownHubIssuer(nodeError('CERT_HAS_EXPIRED')));
  assert.ok(!isUnknownHubIssuer(new LifelineError('LINK_TLS_UNTRUSTED', 'no cause')));
  assert.ok(!isUnknownHubIssuer(undefined));
  // A cause chain that loops ends.
  const loop: Error & { cause?: unknown } = new Error('loop');
  loop.cause = loop;
  assert.ok(!isUnknownHubIssuer(loop));
});
