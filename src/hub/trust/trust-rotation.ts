// The hub's trust material and its rotation: which CA signs station certificates, which CAs the
// station port trusts, which key signs tickets, and what agents pin (the trust bundle).
//
// `lifeline hub rotate ca|ticket-key` writes the next CA (with a server certificate from it) or the
// next ticket key beside the current ones and records the overlap's end in rotation.json. During
// the overlap the hub trusts station certificates from both CAs, serves its old server certificate,
// signs renewals with the new CA and tickets with the old key; agents fetch and pin the bundle.
// At the overlap's end the next files replace the current ones (renames) and the old are gone.

import { existsSync, readFileSync, renameSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { X509Certificate } from 'node:crypto';
import { z } from 'zod';
import { LifelineError } from '../../common/errors.js';
import { replaceFile, writePrivateFile } from '../../common/disk/index.js';
import { createCa, createTicketKeyPair, issueServerCert, type KeyAndCert } from '../../pki/index.js';
import type { HubPaths } from '../config.js';
import { crlUrlFor } from './crl.js';

const year = 365 * 24 * 3600 * 1000;

export function rotationPaths(dataDir: string) {
  return {
    state: join(dataDir, 'rotation.json'),
    caCert: join(dataDir, 'ca-next.pem'),
    caKey: join(dataDir, 'ca-next-key.pem'),
    serverCert: join(dataDir, 'server-next.pem'),
    serverKey: join(dataDir, 'server-next-key.pem'),
    ticketKey: join(dataDir, 'ticket-key-next.pem'),
    ticketPublicKey: join(dataDir, 'ticket-pub-next.pem'),
  };
}

const overlapSchema = z.object({ startedAtMs: z.number(), overlapEndsAtMs: z.number() }).strict();
const rotationStateSchema = z
  .object({ ca: overlapSchema.optional(), ticketKey: overlapSchema.optional() })
  .strict();
export type RotationState = z.infer<typeof rotationStateSchema>;
export type RotationKind = 'ca' | 'ticketKey';

export function readRotationState(dataDir: string): RotationState {
  const path = rotationPaths(dataDir).state;
  if (!existsSync(path)) return {};
  try {
    return rotationStateSchema.parse(JSON.parse(readFileSync(path, 'utf8')));
  } catch (err) {
    throw new LifelineError('CONFIG_INVALID', `${path} is not a rotation state written by lifeline`, {
      cause: err,
    });
  }
}

function writeRotationState(dataDir: string, state: RotationState): void {
  replaceFile(rotationPaths(dataDir).state, JSON.stringify(state, null, 2) + '\n');
}

/** The names the current server certificate is valid for, so the next one names the same. */
export function serverHosts(serverCertPem: string): string[] {
  const names = new X509Certificate(serverCertPem).subjectAltName ?? '';
  return names
    .split(', ')
    .map((entry) => entry.replace(/^(DNS|IP Address):/, ''))
    .filter((name) => name.length > 0);
}

/**
 * `hub rotate ca`: a new CA and a server certificate from it, trusted beside the old until the
 * overlap ends. The certificate names the CRL under apiUrl (hub.yaml) when it is given.
 */
export async function startCaRotation(
  dataDir: string,
  paths: HubPaths,
  overlapMs: number,
  nowMs: number,
  apiUrl?: string,
): Promise<{ overlapEndsAtMs: number }> {
  // An overlap that ended while no hub ran is finished first.
  finishDueRotations(dataDir, paths, nowMs);
  const state = readRotationState(dataDir);
  if (state.ca)
    throw new LifelineError(
      'CONFIG_EXISTS',
      `a CA rotation is already under way (its overlap ends ${new Date(state.ca.overlapEndsAtMs).toISOString()})`,
    );
  const next = rotationPaths(dataDir);
  const ca = await createCa(
    `Lifeline hub CA ${new Date(nowMs).toISOString().slice(0, 10)}`,
    10 * year,
    nowMs,
  );
  const server = await issueServerCert(
    ca,
    serverHosts(readFileSync(paths.serverCert, 'utf8')),
    2 * year,
    nowMs,
    apiUrl === undefined ? undefined : crlUrlFor(apiUrl),
  );
  writePrivateFile(next.caKey, ca.keyPem, true);
  writePrivateFile(next.caCert, ca.certPem, true);
  writePrivateFile(next.serverKey, server.keyPem, true);
  writePrivateFile(next.serverCert, server.certPem, true);
  const overlapEndsAtMs = nowMs + overlapMs;
  writeRotationState(dataDir, { ...state, ca: { startedAtMs: nowMs, overlapEndsAtMs } });
  return { overlapEndsAtMs };
}

/** `hub rotate ticket-key`: a new ticket key, pinned by agents during the overlap, used after it. */
export function startTicketKeyRotation(
  dataDir: string,
  paths: HubPaths,
  overlapMs: number,
  nowMs: number,
): { overlapEndsAtMs: number } {
  finishDueRotations(dataDir, paths, nowMs);
  const state = readRotationState(dataDir);
  if (state.ticketKey)
    throw new LifelineError(
      'CONFIG_EXISTS',
      `a ticket-key rotation is already under way (its overlap ends ${new Date(state.ticketKey.overlapEndsAtMs).toISOString()})`,
    );
  const next = rotationPaths(dataDir);
  const keys = createTicketKeyPair();
  writePrivateFile(next.ticketKey, keys.privateKeyPem, true);
  writePrivateFile(next.ticketPublicKey, keys.publicKeyPem, true);
  const overlapEndsAtMs = nowMs + overlapMs;
  writeRotationState(dataDir, { ...state, ticketKey: { startedAtMs: nowMs, overlapEndsAtMs } });
  return { overlapEndsAtMs };
}

/**
 * Ends the overlaps that are over: the next files replace the current ones. Safe to run from any
 * process at any time (renames are atomic; a rename already done is skipped). Returns what ended.
 */
export function finishDueRotations(dataDir: string, paths: HubPaths, nowMs: number): RotationKind[] {
  const state = readRotationState(dataDir);
  const next = rotationPaths(dataDir);
  const ended: RotationKind[] = [];
  const move = (from: string, to: string) => {
    if (existsSync(from)) renameSync(from, to);
  };
  if (state.ca && state.ca.overlapEndsAtMs <= nowMs) {
    // The server certificate first: a hub reading between two renames still has a matching pair
    // for whichever CA it serves, and trusts both until rotation.json says the overlap is over.
    move(next.serverKey, paths.serverKey);
    move(next.serverCert, paths.serverCert);
    move(next.caKey, paths.caKey);
    move(next.caCert, paths.caCert);
    delete state.ca;
    ended.push('ca');
  }
  if (state.ticketKey && state.ticketKey.overlapEndsAtMs <= nowMs) {
    move(next.ticketKey, paths.ticketKey);
    move(next.ticketPublicKey, paths.ticketPublicKey);
    delete state.ticketKey;
    ended.push('ticketKey');
  }
  if (ended.length > 0) writeRotationState(dataDir, state);
  return ended;
}

/** What the hub uses now, read from its data directory. */
export interface HubTrustMaterial {
  /** Signs station certificates (enrollment and renewal): the next CA during a CA rotation. */
  signingCa: KeyAndCert;
  /** The CA of the served server certificate (the old one during the overlap): signs the CRL. */
  currentCa: KeyAndCert;
  /** CA certificates whose station certificates the station port accepts. */
  trustedCaPems: string[];
  /** The station port's server key and chain (the old CA's during the overlap). */
  serverKeyPem: string;
  serverChainPem: string;
  /** Signs service tickets: the old key until the ticket-key overlap ends. */
  ticketPrivateKeyPem: string;
  /** What agents pin. */
  bundle: TrustBundle;
}

export interface TrustBundle {
  /** The hub CA certificates, concatenated (one, or two during a CA rotation). */
  caPem: string;
  /** The ticket public keys, concatenated (one, or two during a ticket-key rotation). */
  ticketPublicKeysPem: string;
  fixPublicKeyPem: string;
  /** When the current overlap ends (the later of the two), null when none is under way. */
  overlapEndsAtMs: number | null;
}

export function loadHubTrust(dataDir: string, paths: HubPaths, fixPublicKeyPem: string): HubTrustMaterial {
  const read = (path: string) => readFileSync(path, 'utf8');
  const state = readRotationState(dataDir);
  const next = rotationPaths(dataDir);
  const current: KeyAndCert = { certPem: read(paths.caCert), keyPem: read(paths.caKey) };
  const nextCa: KeyAndCert | undefined = state.ca
    ? { certPem: read(next.caCert), keyPem: read(next.caKey) }
    : undefined;
  const trustedCaPems = nextCa ? [current.certPem, nextCa.certPem] : [current.certPem];
  const ticketPublicKeys = [read(paths.ticketPublicKey)];
  if (state.ticketKey) ticketPublicKeys.push(read(next.ticketPublicKey));
  const ends = [state.ca?.overlapEndsAtMs, state.ticketKey?.overlapEndsAtMs].filter(
    (v): v is number => v !== undefined,
  );
  return {
    signingCa: nextCa ?? current,
    currentCa: current,
    trustedCaPems,
    serverKeyPem: read(paths.serverKey),
    serverChainPem: read(paths.serverCert) + current.certPem,
    ticketPrivateKeyPem: read(paths.ticketKey),
    bundle: {
      caPem: trustedCaPems.join(''),
      ticketPublicKeysPem: ticketPublicKeys.join(''),
      fixPublicKeyPem,
      overlapEndsAtMs: ends.length > 0 ? Math.max(...ends) : null,
    },
  };
}

/** A cheap fingerprint of the rotation state, so a running hub notices a rotation started elsewhere. */
export function rotationStamp(dataDir: string): string {
  const path = rotationPaths(dataDir).state;
  if (!existsSync(path)) return 'none';
  const stat = statSync(path);
  return `${stat.mtimeMs}:${stat.size}:${stat.ino}`;
}

/**
 * The running hub's view of its trust material. Checks every intervalMs whether an overlap ended
 * (then finishes it) or a rotation was started by the CLI, and hands the new material to onChange.
 */
export class HubTrust {
  readonly #dataDir: string;
  readonly #paths: HubPaths;
  readonly #fixPublicKeyPem: string;
  readonly #now: () => number;
  #material: HubTrustMaterial;
  #stamp: string;
  #timer: NodeJS.Timeout | undefined;
  onChange: ((material: HubTrustMaterial, ended: RotationKind[]) => void) | undefined;
  onError: ((err: unknown) => void) | undefined;

  constructor(options: { dataDir: string; paths: HubPaths; fixPublicKeyPem: string; now: () => number }) {
    this.#dataDir = options.dataDir;
    this.#paths = options.paths;
    this.#fixPublicKeyPem = options.fixPublicKeyPem;
    this.#now = options.now;
    // An overlap that ended while no hub ran is finished before anything is served.
    finishDueRotations(this.#dataDir, this.#paths, this.#now());
    this.#stamp = rotationStamp(this.#dataDir);
    this.#material = loadHubTrust(this.#dataDir, this.#paths, this.#fixPublicKeyPem);
  }

  get material(): HubTrustMaterial {
    return this.#material;
  }

  /** Finishes due overlaps and reloads after any change; true when the material changed. */
  check(): boolean {
    const ended = finishDueRotations(this.#dataDir, this.#paths, this.#now());
    const stamp = rotationStamp(this.#dataDir);
    if (ended.length === 0 && stamp === this.#stamp) return false;
    this.#stamp = stamp;
    this.#material = loadHubTrust(this.#dataDir, this.#paths, this.#fixPublicKeyPem);
    this.onChange?.(this.#material, ended);
    return true;
  }

  start(intervalMs = 1000): void {
    this.#timer ??= setInterval(() => {
      try {
        this.check();
      } catch (err) {
        this.onError?.(err);
      }
    }, intervalMs);
    this.#timer.unref();
  }

  close(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }
}
