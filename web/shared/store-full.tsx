// The banner both pages show while their process's data directory has no room (the store-full
// condition of src/common/disk/store-space.ts): what is full, since when, what is refused, what to do.

import type { JSX } from 'preact';
import { When, formatBytes } from './ui.js';

/** As GET /v1/status (agent) and GET /v1/hub/status (hub) carry it. */
export interface StoreFullCondition {
  path: string;
  dir: string;
  reason: 'disk' | 'quota' | 'size-limit';
  freeBytes: number | null;
  minFreeBytes: number;
  sinceMs: number;
  message: string;
}

export function StoreFullBanner(props: {
  condition: StoreFullCondition | null | undefined;
  /** Whose disk: the appliance's agent or the vendor's hub. */
  who: 'agent' | 'hub';
  /** The agent's audit log can be written (sessions still allowed); not shown for the hub. */
  auditHealthy?: boolean;
}): JSX.Element | null {
  const full = props.condition;
  if (!full) return null;
  const what =
    full.reason === 'size-limit'
      ? `${full.path} reached its size limit`
      : full.reason === 'quota'
        ? `the disk quota for ${full.path} is used up`
        : `the disk of ${full.dir} is full`;
  const free = full.freeBytes === null ? 'unknown' : formatBytes(full.freeBytes);
  return (
    <section
      class="banner bad"
      role="alert"
      data-testid="store-full-banner"
      aria-labelledby="store-full-title"
    >
      <h2 id="store-full-title">
        Storage full since <When ms={full.sinceMs} />: {what}
      </h2>
      <p>
        Free space: {free} in <code>{full.dir}</code> (the {props.who} keeps {formatBytes(full.minFreeBytes)}{' '}
        free).
      </p>
      {props.who === 'agent' ? (
        <p>
          New reports and attachments are refused (507 STORE_FULL); reports accepted before are kept and will
          be sent. Sessions:{' '}
          {props.auditHealthy === false
            ? 'refused, the audit log cannot be written.'
            : 'still allowed, the audit log can be written.'}
        </p>
      ) : (
        <p>
          Stations' reports and attachment chunks are refused (507 STORE_FULL); the stations keep them and
          send them again.
        </p>
      )}
      <p>
        {full.reason === 'size-limit'
          ? 'Raise store.maxSizeMb in agent.yaml and restart the agent.'
          : `Free space in ${full.dir}: the ${props.who} resumes by itself, no restart needed.`}
      </p>
    </section>
  );
}
