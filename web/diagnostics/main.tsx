// The appliance's Diagnostics page: remote support at a glance and every action the administrator
// takes on it, through the same admin API (and so the same audit entries) as the CLI. The admin
// credential comes from the URL fragment the agent prints (never sent to the server in a URL) or is
// pasted into the form; it is kept for this browser tab only.

import { render } from 'preact';
import { useCallback, useEffect, useRef, useState } from 'preact/hooks';
import '../shared/styles.css';
import { useTabCredential } from '../shared/api.js';
import { firstFailure, liveLabel, useLiveTopics } from '../shared/live.js';
import type {
  AccessRequest,
  AclRule,
  AgentStatus,
  ActiveSession,
  Attachment,
  AuditEntry,
  OutboxItem,
  PerformanceSample,
  Problem,
  SessionRecord,
  Transmission,
} from './types.js';
import { ConnectionSection, RemoteServiceSection } from './connection.js';
import { AclSection, RequestsSection } from './policy.js';
import { ActivityCharts, SessionsSection } from './sessions.js';
import { AuditSection } from './audit.js';
import { CallHomeSection } from './callhome.js';
import { StoreFullBanner } from '../shared/store-full.js';

const credentialKey = 'lifeline.admin';

function takeCredentialFromFragment(): void {
  const match = /(?:^#|&)token=([^&]+)/.exec(window.location.hash);
  if (!match?.[1]) return;
  sessionStorage.setItem(credentialKey, decodeURIComponent(match[1]));
  // The credential leaves the address bar (and the history) at once.
  history.replaceState(null, '', window.location.pathname + window.location.search);
}

export interface AgentData {
  status: AgentStatus | null;
  requests: AccessRequest[];
  rules: AclRule[];
  active: ActiveSession[];
  recent: SessionRecord[];
  audit: AuditEntry[];
  problems: Problem[];
  attachments: Attachment[];
  outbox: { waiting: OutboxItem[]; status: Record<string, unknown> | null };
  sent: Transmission[];
  performance: PerformanceSample[];
}

const emptyData: AgentData = {
  status: null,
  requests: [],
  rules: [],
  active: [],
  recent: [],
  audit: [],
  problems: [],
  attachments: [],
  outbox: { waiting: [], status: null },
  sent: [],
  performance: [],
};

type Topic = 'status' | 'policy' | 'sessions' | 'audit' | 'callhome' | 'performance';
const allTopics: Topic[] = ['status', 'policy', 'sessions', 'audit', 'callhome', 'performance'];

function App() {
  takeCredentialFromFragment();
  const { credential, keep, signOut, api } = useTabCredential(credentialKey);
  const [data, setData] = useState<AgentData>(emptyData);
  const [loadError, setLoadError] = useState<string | null>(null);
  /** Uploads move without an audit entry per chunk: while one runs, the page asks for progress. */
  const uploading = useRef(false);

  const load = useCallback(
    async (topics: readonly Topic[]) => {
      const want = new Set(topics);
      const part: Partial<AgentData> = {};
      const jobs: Promise<void>[] = [];
      if (want.has('status'))
        jobs.push(api.get<AgentStatus>('/v1/status').then((s) => void (part.status = s)));
      if (want.has('policy') || want.has('status')) {
        jobs.push(
          api
            .get<{ requests: AccessRequest[] }>('/v1/requests?status=pending')
            .then((r) => void (part.requests = r.requests)),
        );
        jobs.push(api.get<{ rules: AclRule[] }>('/v1/acl').then((r) => void (part.rules = r.rules)));
      }
      if (want.has('sessions'))
        jobs.push(
          api.get<{ active: ActiveSession[]; recent: SessionRecord[] }>('/v1/sessions').then((r) => {
            part.active = r.active;
            part.recent = r.recent;
          }),
        );
      if (want.has('audit'))
        jobs.push(
          api
            .get<{ entries: AuditEntry[] }>('/v1/audit?limit=500')
            .then((r) => void (part.audit = r.entries)),
        );
      if (want.has('callhome')) {
        jobs.push(
          api.get<{ problems: Problem[] }>('/v1/problems').then((r) => void (part.problems = r.problems)),
        );
        jobs.push(
          api
            .get<{ attachments: Attachment[] }>('/v1/attachments')
            .then((r) => void (part.attachments = r.attachments)),
        );
        jobs.push(
          api
            .get<{ waiting: OutboxItem[]; status: Record<string, unknown> }>('/v1/outbox')
            .then((r) => void (part.outbox = r)),
        );
        jobs.push(
          api
            .get<{ transmissions: Transmission[] }>('/v1/sent')
            .then((r) => void (part.sent = r.transmissions.slice(0, 200))),
        );
      }
      if (want.has('performance'))
        jobs.push(
          api
            .get<{ samples: PerformanceSample[] }>('/v1/performance/samples')
            .then((r) => void (part.performance = r.samples))
            .catch(() => undefined),
        );
      setLoadError(firstFailure(await Promise.allSettled(jobs)));
      if (part.attachments) uploading.current = part.attachments.some((a) => a.state !== 'uploaded');
      setData((before) => ({ ...before, ...part }));
    },
    [api],
  );

  const live = useLiveTopics(api, credential !== null, allTopics, load);
  useEffect(() => {
    if (!credential) return undefined;
    // Relative times ("5 s ago"), session byte counts and upload progress move on their own.
    const timer = setInterval(
      () => void load(uploading.current ? ['sessions', 'callhome'] : ['sessions']),
      3000,
    );
    return () => clearInterval(timer);
  }, [credential, load]);

  if (!credential) return <Login onCredential={keep} />;
  const status = data.status;
  return (
    <>
      <header class="topbar">
        <h1>Lifeline · Diagnostics</h1>
        <span>{status ? status.stationId : ''}</span>
        <span class="spacer" />
        <span class="live" aria-live="polite" data-testid="live-state">
          {liveLabel(live)}
        </span>
        <a href="#requests" style={{ color: '#fff' }}>
          Pending requests{' '}
          <span class="count" data-testid="header-pending-count">
            {status?.pendingRequests ?? 0}
          </span>
        </a>
        <button type="button" onClick={signOut}>
          Sign out
        </button>
      </header>
      <nav class="sections" aria-label="Sections">
        <a href="#connection">Connection</a>
        <a href="#remote">Remote service</a>
        <a href="#requests">Access requests</a>
        <a href="#acl">ACL rules</a>
        <a href="#sessions">Sessions</a>
        <a href="#charts">Charts</a>
        <a href="#audit">Audit log</a>
        <a href="#callhome">Call home</a>
      </nav>
      {loadError ? (
        <p class="error" role="alert" style={{ padding: '0 1.25rem' }}>
          {loadError}
        </p>
      ) : null}
      <StoreFullBanner condition={status?.storeFull} who="agent" auditHealthy={status?.auditHealthy} />
      <main>
        <ConnectionSection status={status} />
        <RemoteServiceSection api={api} status={status} reload={() => load(['status', 'policy'])} />
        <RequestsSection
          api={api}
          requests={data.requests}
          reload={() => load(['status', 'policy', 'audit'])}
        />
        <AclSection api={api} rules={data.rules} reload={() => load(['policy', 'audit'])} />
        <SessionsSection api={api} active={data.active} reload={() => load(['sessions', 'status'])} />
        <ActivityCharts recent={data.recent} active={data.active} performance={data.performance} />
        <AuditSection api={api} entries={data.audit} />
        <CallHomeSection api={api} data={data} reload={() => load(['callhome'])} />
      </main>
    </>
  );
}

function Login(props: { onCredential: (credential: string) => void }) {
  const [value, setValue] = useState('');
  return (
    <main>
      <section class="card login" aria-labelledby="login-title">
        <h2 id="login-title">Sign in to the Diagnostics page</h2>
        <p class="muted">
          Use the admin credential of this appliance: the file <code>admin-token</code> in the agent's data
          directory, or the link <code>lifeline agent start</code> printed.
        </p>
        <form
          class="stack"
          onSubmit={(event) => {
            event.preventDefault();
            const credential = value.trim();
            if (credential) props.onCredential(credential);
          }}
        >
          <label>
            Admin credential
            <input
              type="password"
              autoComplete="off"
              value={value}
              onInput={(e) => setValue((e.target as HTMLInputElement).value)}
              required
            />
          </label>
          <button type="submit" class="primary">
            Sign in
          </button>
        </form>
      </section>
    </main>
  );
}

const root = document.getElementById('app');
if (root) render(<App />, root);
