// The station identity's upkeep while the agent runs: the certificate renewed before it expires,
// and the hub's trust bundle (CA certificates, ticket keys) pinned as the hub rotates it. close()
// stops both; a renewal under way finishes first.

import type { Clock } from '../../common/clock.js';
import type { Logger } from '../../common/logger.js';
import type { TicketVerifier } from '../../pki/index.js';
import type { AgentPaths } from '../config.js';
import type { CallHomeClient } from '../link/index.js';
import { CertificateRenewal, type RenewAnswer } from './cert-renewal.js';
import type { StationCredentials } from './station-credentials.js';
import { TrustBundlePinner } from './trust-bundle.js';

export interface IdentityDeps {
  stationId: string;
  paths: AgentPaths;
  credentials: StationCredentials;
  /** The ticket keys in force: a ticket-key rotation's trust bundle replaces them. */
  verifier: TicketVerifier;
  hub: Pick<CallHomeClient, 'request' | 'reconnect'>;
  /** A new certificate is on disk: channels that dialled with the old one are dropped. */
  onRenewed: () => void;
  record: (action: string, detail: Record<string, unknown>) => Promise<void>;
  clock: Clock;
  logger: Logger;
}

export interface Identity {
  renewal: CertificateRenewal;
  close(): Promise<void>;
}

export function startIdentity(deps: IdentityDeps): Identity {
  const { hub } = deps;
  const trustPins = new TrustBundlePinner({
    paths: deps.paths,
    credentials: deps.credentials,
    verifier: deps.verifier,
    fetch: () => hub.request('GET', '/v1/trust'),
    record: deps.record,
    logger: deps.logger,
  });
  const renewal = new CertificateRenewal({
    stationId: deps.stationId,
    credentials: deps.credentials,
    paths: deps.paths,
    renew: (csr) => hub.request<RenewAnswer>('POST', '/v1/certificate/renew', { csr }),
    renewed: async (answer) => {
      // The next request dials with the new certificate, which the hub checks checkpoints against.
      hub.reconnect();
      deps.onRenewed();
      await trustPins.pin(answer.trust);
    },
    record: deps.record,
    clock: deps.clock,
    logger: deps.logger,
  });
  renewal.start();
  trustPins.start();
  return {
    renewal,
    async close() {
      await renewal.close();
      trustPins.close();
    },
  };
}
