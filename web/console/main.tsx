// The hub console: stations, service sessions, problem tickets and retention, for the vendor's
// technicians and support engineers. Same login as `lifeline login` (password, and a TOTP code for
// users who have one); the token lives in this browser tab only.

import { render } from 'preact';
import { useCallback, useEffect, useState } from 'preact/hooks';
import '../shared/styles.css';
import { ApiError, useTabCredential, type ApiClient } from '../shared/api.js';
import { firstFailure, liveLabel, useLiveTopics } from '../shared/live.js';
import { StationsSection, type StationRow } from './stations.js';
import { SessionsSection, type HubSession } from './sessions.js';
import { ProblemsSection, type ProblemRow } from './problems.js';
import { RetentionSection, type RetentionView } from './retention.js';
import { StoreFullBanner, type StoreFullCondition } from '../shared/store-full.js';

const tokenKey = 'lifeline.hub';

export interface ConsoleData {
  stations: StationRow[];
  sessions: { active: HubSession[]; recent: HubSession[] };
  problems: ProblemRow[];
  retention: RetentionView | null;
  /** The hub's store-full condition (GET /v1/hub/status); null while there is room. */
  storeFull: StoreFullCondition | null;
}

type Topic = 'stations' | 'sessions' | 'problems' | 'retention' | 'hub';
const allTopics: Topic[] = ['stations', 'sessions', 'problems', 'retention', 'hub'];

function App() {
  const { credential: token, keep: keepToken, signOut: forgetToken, api } = useTabCredential(tokenKey);
  const [me, setMe] = useState<{ user: string; technician: boolean } | null>(null);
  const [data, setData] = useState<ConsoleData>({
    stations: [],
    sessions: { active: [], recent: [] },
    problems: [],
    retention: null,
    storeFull: null,
  });
  const [loadError, setLoadError] = useState<string | null>(null);
  const signOut = useCallback(() => {
    forgetToken();
    setMe(null);
  }, [forgetToken]);

  const load = useCallback(
    async (topics: readonly Topic[]) => {
      const want = new Set(topics);
      const part: Partial<ConsoleData> = {};
      const jobs: Promise<void>[] = [];
      if (want.has('stations'))
        jobs.push(
          api.get<{ stations: StationRow[] }>('/v1/stations').then((r) => void (part.stations = r.stations)),
        );
      if (want.has('sessions'))
        jobs.push(
          api
            .get<{ active: HubSession[]; recent: HubSession[] }>('/v1/sessions')
            .then((r) => void (part.sessions = r)),
        );
      if (want.has('problems'))
        jobs.push(
          api.get<{ problems: ProblemRow[] }>('/v1/problems').then((r) => void (part.problems = r.problems)),
        );
      if (want.has('retention'))
        jobs.push(api.get<RetentionView>('/v1/retention').then((r) => void (part.retention = r)));
      if (want.has('hub'))
        jobs.push(
          api
            .get<{ storeFull: StoreFullCondition | null }>('/v1/hub/status')
            .then((r) => void (part.storeFull = r.storeFull)),
        );
      setLoadError(firstFailure(await Promise.allSettled(jobs)));
      setData((before) => ({ ...before, ...part }));
    },
    [api],
  );

  useEffect(() => {
    if (!token) return;
    void api
      .get<{ user: string; technician: boolean }>('/v1/me')
      .then(setMe)
      .catch(() => undefined);
  }, [token, api]);
  const live = useLiveTopics(api, token !== null, allTopics, load);

  if (!token) return <Login api={api} onToken={keepToken} />;
  return (
    <>
      <header class="topbar">
        <h1>Lifeline · Hub console</h1>
        <span class="spacer" />
        <span class="live" aria-live="polite" data-testid="live-state">
          {liveLabel(live)}
        </span>
        <span>{me?.user ?? ''}</span>
        <button type="button" onClick={signOut}>
          Sign out
        </button>
      </header>
      <nav class="sections" aria-label="Sections">
        <a href="#stations">Stations</a>
        <a href="#sessions">Sessions</a>
        <a href="#problems">Problems</a>
        <a href="#retention">Retention</a>
      </nav>
      {loadError ? (
        <p class="error" role="alert" style={{ padding: '0 1.25rem' }}>
          {loadError}
        </p>
      ) : null}
      <StoreFullBanner condition={data.storeFull} who="hub" />
      <main>
        <StationsSection stations={data.stations} />
        <SessionsSection api={api} me={me?.user ?? null} sessions={data.sessions} stations={data.stations} />
        <ProblemsSection api={api} problems={data.problems} reload={() => load(['problems'])} />
        <RetentionSection retention={data.retention} />
      </main>
    </>
  );
}

function Login(props: { api: ApiClient; onToken: (token: string) => void }) {
  const [user, setUser] = useState('');
  const [password, setPassword] = useState('');
  const [totp, setTotp] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  return (
    <main>
      <section class="card login" aria-labelledby="login-title">
        <h2 id="login-title">Sign in to the hub</h2>
        <form
          class="stack"
          onSubmit={(event) => {
            event.preventDefault();
            setBusy(true);
            setError(null);
            props.api
              .post<{ token: string }>('/v1/login', {
                user: user.trim(),
                password,
                ...(totp.trim() ? { totp: totp.trim() } : {}),
              })
              .then((answer) => props.onToken(answer.token))
              .catch((err: unknown) => setError(err instanceof ApiError ? err.message : String(err)))
              .finally(() => setBusy(false));
          }}
        >
          <label>
            User
            <input
              autoComplete="username"
              value={user}
              onInput={(e) => setUser((e.target as HTMLInputElement).value)}
              required
            />
          </label>
          <label>
            Password
            <input
              type="password"
              autoComplete="current-password"
              value={password}
              onInput={(e) => setPassword((e.target as HTMLInputElement).value)}
              required
            />
          </label>
          <label>
            TOTP code (if your account has one)
            <input
              inputMode="numeric"
              autoComplete="one-time-code"
              pattern="[0-9]{6}"
              value={totp}
              onInput={(e) => setTotp((e.target as HTMLInputElement).value)}
            />
          </label>
          {error ? (
            <p class="error" role="alert" data-testid="login-error">
              {error}
            </p>
          ) : null}
          <button type="submit" class="primary" disabled={busy}>
            Sign in
          </button>
        </form>
      </section>
    </main>
  );
}

const root = document.getElementById('app');
if (root) render(<App />, root);
