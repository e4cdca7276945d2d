import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createPrivateKey } from 'node:crypto';
import { CompactSign } from 'jose';
import { LifelineError } from '../common/errors.js';
import { fixStatementType, type FixStatement } from '../protocol/index.js';
import { createTicketKeyPair, FixSigner, FixVerifier, TicketSigner } from './index.js';

const keys = createTicketKeyPair();
const signer = new FixSigner(keys.privateKeyPem);
const verifier = new FixVerifier(keys.publicKeyPem);

const statement: FixStatement = {
  name: 'bmc-fw',
  version: '2.1.0',
  file: 'bmc-fw-2.1.0.bin',
  appliesTo: ['X100'],
  size: 3_158_073,
  sha256: 'a'.repeat(64),
  publishedAt: '2026-03-02T10:15:30.123Z',
  description: 'BMC firmware',
};

async function refused(jws: string, why: RegExp = /not validly signed/): Promise<void> {
  await assert.rejects(
    verifier.verify(jws),
    (err: unknown) =>
      err instanceof LifelineError && err.code === 'CALLHOME_FIX_UNVERIFIED' && why.test(err.message),
  );
}

/** A JWS over any payload and header with the hub's own key: what a buggy or hostile signer makes. */
function signRaw(payload: unknown, typ: string = fixStatementType): Promise<string> {
  return new CompactSign(new TextEncoder().encode(JSON.stringify(payload)))
    .setProtectedHeader({ alg: 'EdDSA', typ })
    .sign(createPrivateKey(keys.privateKeyPem));
}

test('a statement signed with the fix key verifies to the same statement', async () => {
  const jws = await signer.sign(statement);
  assert.deepEqual(await verifier.verify(jws), statement);
  assert.equal(signer.publicKeyPem, keys.publicKeyPem);
});

test('a statement signed by another key is refused', async () => {
  const other = new FixSigner(createTicketKeyPair().privateKeyPem);
  await refused(await other.sign(statement));
});

test('a statement whose payload was changed after signing is refused', async () => {
  const [header, , signature] = (await signer.sign(statement)).split('.');
  const forged = Buffer.from(JSON.stringify({ ...statement, sha256: 'b'.repeat(64) })).toString('base64url');
  await refused(`${header}.${forged}.${signature}`);
});

test('a service ticket signed with the same key is not a fix statement', async () => {
  const ticket = await new TicketSigner(keys.privateKeyPem).sign({
    iss: 'lifeline-hub',
    aud: 'ST-7KQ3-9XPM-4',
    sub: 'alice',
    name: 'Alice',
    groups: [],
    svc: 'ssh',
    sid: '0'.repeat(32),
    jti: '1'.repeat(32),
    iat: 1_750_000_000,
    exp: 1_750_000_030,
    amr: ['pwd'],
  });
  await refused(ticket);
  await refused(await signRaw(statement, 'JWT'));
});

test('a validly signed but malformed statement is refused', async () => {
  await refused(await signRaw({ ...statement, extra: 1 }), /malformed/);
  await refused(await signRaw({ ...statement, file: '../../etc/passwd' }), /malformed/);
  await refused(await signRaw({ ...statement, size: -1 }), /malformed/);
  await refused(await signRaw('not an object'), /malformed/);
});

test('garbage is refused, not thrown as something else', async () => {
  await refused('');
  await refused('a.b.c');
});

test('the signer refuses to sign a statement the agent would refuse', async () => {
  await assert.rejects(signer.sign({ ...statement, name: 'bad/name' }));
});
