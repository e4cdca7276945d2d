// The station's TLS identity as files on disk (key, certificate, pinned hub CA bundle), read once and
// again whenever renewal or a trust rotation replaces them. Every connection to the hub asks for the
// current credentials when it dials, so a renewed certificate is used from the next connection on
// and a connection already open (the tunnel) is not dropped.

import { EventEmitter } from 'node:events';
import { readFileSync } from 'node:fs';
import { X509Certificate } from 'node:crypto';
import type { AgentPaths } from '../config.js';
import type { TlsCredentials } from '../link/index.js';

export class StationCredentials extends EventEmitter<{ changed: [TlsCredentials] }> {
  readonly #paths: Pick<AgentPaths, 'hubCa' | 'stationCert' | 'stationKey'>;
  #current: TlsCredentials;
  #notAfterMs: number;
  #notBeforeMs: number;

  constructor(paths: Pick<AgentPaths, 'hubCa' | 'stationCert' | 'stationKey'>) {
    super();
    this.#paths = paths;
    this.#current = this.#read();
    [this.#notBeforeMs, this.#notAfterMs] = validity(this.#current.certPem);
  }

  /** What a connection dialled now presents and trusts. */
  current(): TlsCredentials {
    return this.#current;
  }

  /** The station certificate's validity, milliseconds since the epoch. */
  get notBeforeMs(): number {
    return this.#notBeforeMs;
  }

  get notAfterMs(): number {
    return this.#notAfterMs;
  }

  expired(nowMs: number): boolean {
    return nowMs >= this.#notAfterMs;
  }

  /** Reads the files again (after renewal or rotation wrote them) and tells every listener. */
  reload(): TlsCredentials {
    this.#current = this.#read();
    [this.#notBeforeMs, this.#notAfterMs] = validity(this.#current.certPem);
    this.emit('changed', this.#current);
    return this.#current;
  }

  #read(): TlsCredentials {
    const read = (path: string) => readFileSync(path, 'utf8');
    return {
      caPem: read(this.#paths.hubCa),
      certPem: read(this.#paths.stationCert),
      keyPem: read(this.#paths.stationKey),
    };
  }
}

function validity(certPem: string): [number, number] {
  const cert = new X509Certificate(certPem);
  return [Date.parse(cert.validFrom), Date.parse(cert.validTo)];
}
