// Connection details and the remote-service settings (on/off, access level, one-time access).

import { useState } from 'preact/hooks';
import type { ApiClient } from '../shared/api.js';
import { ActionButton, Badge, CopyButton, Section, When, formatAgo, formatTime } from '../shared/ui.js';
import type { AgentStatus, Grant } from './types.js';

const tunnelTone = { connected: 'good', connecting: 'warn', waiting: 'bad', disabled: 'neutral' } as const;

export function ConnectionSection(props: { status: AgentStatus | null }) {
  const s = props.status;
  if (!s)
    return (
      <Section id="connection" title="Connection">
        <p class="empty">Loading…</p>
      </Section>
    );
  const others = s.hubEndpoints.filter((e) => e.endpoint !== s.tunnel.endpoint);
  return (
    <Section id="connection" title="Connection">
      <dl class="facts">
        <dt>Station ID</dt>
        <dd>
          <strong data-testid="station-id">{s.stationId}</strong>{' '}
          <CopyButton text={s.stationId} label="Copy the Station ID" />
        </dd>
        <dt>Hub endpoint</dt>
        <dd data-testid="hub-endpoint">
          {s.tunnel.endpoint ?? s.hub}
          {others.map((e) => (
            <div class="muted" key={e.endpoint}>
              {e.endpoint}
              {e.via === 'proxy' ? ' via proxy' : ''}: {e.state}
              {e.lastError ? ` (${e.lastError})` : ''}
            </div>
          ))}
        </dd>
        <dt>Tunnel</dt>
        <dd>
          <Badge tone={tunnelTone[s.tunnel.state]}>
            <span data-testid="tunnel-state">{s.tunnel.state}</span>
          </Badge>{' '}
          since <When ms={s.tunnel.sinceMs} />
          {s.tunnel.lastError ? <div class="error">{s.tunnel.lastError}</div> : null}
          {s.tunnel.nextAttemptAtMs ? (
            <div class="muted">next attempt {formatAgo(s.tunnel.nextAttemptAtMs)}</div>
          ) : null}
        </dd>
        <dt>Proxy</dt>
        <dd data-testid="proxy">
          {s.proxy ? (
            <>
              {s.proxy.url}
              {s.proxy.username ? ` as ${s.proxy.username}` : ''}
              {s.proxy.lastError ? (
                <div class="error">
                  {s.proxy.lastErrorCode ? `${s.proxy.lastErrorCode}: ` : ''}
                  {s.proxy.lastError}
                </div>
              ) : null}
            </>
          ) : (
            'none (direct)'
          )}
        </dd>
        <dt>Certificate expires</dt>
        <dd data-testid="cert-expiry">
          {s.certificate ? (
            <>
              {formatTime(s.certificate.notAfterMs)} ({formatAgo(s.certificate.notAfterMs)})
              {s.certificate.state !== 'valid' ? <div class="error">{s.certificate.summary}</div> : null}
              {s.certificate.renewAtMs ? (
                <div class="muted">renewal {formatAgo(s.certificate.renewAtMs)}</div>
              ) : null}
            </>
          ) : (
            '—'
          )}
        </dd>
        <dt>Last call home</dt>
        <dd data-testid="last-callhome">
          {s.lastCallHome ? (
            <>
              <When ms={s.lastCallHome.atMs} /> ({s.lastCallHome.kind})
            </>
          ) : (
            '—'
          )}
        </dd>
        <dt>Audit log</dt>
        <dd>{s.auditHealthy ? <Badge tone="good">writing</Badge> : <Badge tone="bad">failing</Badge>}</dd>
      </dl>
    </Section>
  );
}

export function RemoteServiceSection(props: {
  api: ApiClient;
  status: AgentStatus | null;
  reload: () => Promise<void>;
}) {
  const s = props.status;
  const [level, setLevel] = useState<string | null>(null);
  if (!s)
    return (
      <Section id="remote" title="Remote service">
        <p class="empty">Loading…</p>
      </Section>
    );
  const chosen = level ?? s.accessLevel;
  return (
    <Section id="remote" title="Remote service">
      <dl class="facts">
        <dt>Remote service</dt>
        <dd>
          <Badge tone={s.remoteEnabled ? 'good' : 'neutral'}>
            <span data-testid="remote-state">{s.remoteEnabled ? 'on' : 'off'}</span>
          </Badge>{' '}
          <ActionButton
            label={s.remoteEnabled ? 'Turn off' : 'Turn on'}
            kind={s.remoteEnabled ? 'danger' : 'primary'}
            testId="remote-toggle"
            {...(s.remoteEnabled
              ? { confirm: 'Turn remote service off? Every active session ends at once.' }
              : {})}
            action={async () => {
              await props.api.put('/v1/remote', { enabled: !s.remoteEnabled });
              await props.reload();
            }}
          />
        </dd>
        <dt>
          <label for="access-level">Access level</label>
        </dt>
        <dd>
          <span class="action">
            <select
              id="access-level"
              value={chosen}
              onChange={(e) => setLevel((e.target as HTMLSelectElement).value)}
            >
              <option value="restricted">restricted (ACL rules and access requests)</option>
              <option value="full">full (any authorized technician)</option>
              <option value="none">none (every session refused)</option>
            </select>
            <ActionButton
              label="Save"
              testId="access-save"
              disabled={chosen === s.accessLevel}
              action={async () => {
                await props.api.put('/v1/access', { level: chosen });
                setLevel(null);
                await props.reload();
              }}
            />
          </span>
        </dd>
        <dt>Technician MFA</dt>
        <dd>{s.mfa === 'required' ? 'required for every session' : 'optional'}</dd>
        <dt>One-time access</dt>
        <dd>
          <OneTimeGrant grant={s.oneTimeGrant} />
        </dd>
      </dl>
      <GrantForm api={props.api} reload={props.reload} />
    </Section>
  );
}

function OneTimeGrant(props: { grant: Grant | null }) {
  const g = props.grant;
  if (!g) return <span data-testid="grant-state">none</span>;
  return (
    <span data-testid="grant-state">
      {g.usedAtMs ? (
        <>
          used <When ms={g.usedAtMs} />
        </>
      ) : (
        <>
          open until {formatTime(g.notAfterMs)} ({formatAgo(g.notAfterMs)})
        </>
      )}
      {g.technician ? ` · for ${g.technician}` : ' · any technician'}
      {g.services ? ` · ${g.services.join(', ')}` : ''}
    </span>
  );
}

function GrantForm(props: { api: ApiClient; reload: () => Promise<void> }) {
  const [minutes, setMinutes] = useState('30');
  const [technician, setTechnician] = useState('');
  const [services, setServices] = useState('');
  return (
    <form class="inline" aria-label="Grant one-time access" onSubmit={(e) => e.preventDefault()}>
      <label>
        Within (minutes)
        <input
          type="number"
          min={1}
          max={1440}
          value={minutes}
          onInput={(e) => setMinutes((e.target as HTMLInputElement).value)}
        />
      </label>
      <label>
        Technician (optional)
        <input value={technician} onInput={(e) => setTechnician((e.target as HTMLInputElement).value)} />
      </label>
      <label>
        Services (comma separated, optional)
        <input value={services} onInput={(e) => setServices((e.target as HTMLInputElement).value)} />
      </label>
      <ActionButton
        label="Grant one-time access"
        testId="grant-once"
        action={async () => {
          const list = splitList(services);
          await props.api.post('/v1/grants', {
            withinMs: Math.round(Number(minutes) * 60_000),
            ...(technician.trim() ? { technician: technician.trim() } : {}),
            ...(list.length ? { services: list } : {}),
          });
          await props.reload();
        }}
      />
    </form>
  );
}

export function splitList(text: string): string[] {
  return text
    .split(/[\s,]+/)
    .map((s) => s.trim())
    .filter(Boolean);
}
