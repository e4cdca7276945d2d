// Fix statements signed with the hub's fix key (Ed25519, compact JWS, `typ` lifeline-fix+json) and
// verified by the agent with the key it pinned at enrollment. The fix key is not the ticket key: a
// leaked ticket key must not let anyone push software to appliances, nor the other way round.

import { createPrivateKey, createPublicKey, type KeyObject } from 'node:crypto';
import { CompactSign, compactVerify } from 'jose';
import { LifelineError } from '../common/errors.js';
import { fixStatementSchema, fixStatementType, type FixStatement } from '../protocol/index.js';

export class FixSigner {
  readonly #key: KeyObject;

  constructor(privateKeyPem: string) {
    this.#key = createPrivateKey(privateKeyPem);
  }

  /** The public key that verifies this signer's statements (SPKI PEM). */
  get publicKeyPem(): string {
    return createPublicKey(this.#key).export({ type: 'spki', format: 'pem' }).toString();
  }

  async sign(statement: FixStatement): Promise<string> {
    // Parse first: the hub never signs a statement the agent would refuse as malformed.
    const checked = fixStatementSchema.parse(statement);
    return new CompactSign(new TextEncoder().encode(JSON.stringify(checked)))
      .setProtectedHeader({ alg: 'EdDSA', typ: fixStatementType })
      .sign(this.#key);
  }
}

export class FixVerifier {
  readonly #key: KeyObject;

  constructor(publicKeyPem: string) {
    this.#key = createPublicKey(publicKeyPem);
  }

  /** The statement if `jws` is validly signed by the pinned key; CALLHOME_FIX_UNVERIFIED otherwise. */
  async verify(jws: string): Promise<FixStatement> {
    let payload: Uint8Array;
    try {
      const result = await compactVerify(jws, this.#key, { algorithms: ['EdDSA'] });
      if (result.protectedHeader.typ !== fixStatementType) throw new Error('not a fix statement');
      payload = result.payload;
    } catch (err) {
      throw new LifelineError(
        'CALLHOME_FIX_UNVERIFIED',
        'the fix statement is not validly signed by the hub key pinned at enrollment',
        { cause: err },
      );
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(new TextDecoder().decode(payload));
    } catch {
      parsed = undefined;
    }
    const result = fixStatementSchema.safeParse(parsed);
    if (!result.success)
      throw new LifelineError('CALLHOME_FIX_UNVERIFIED', 'the signed fix statement is malformed');
    return result.data;
  }
}
