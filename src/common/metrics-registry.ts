// What the agent's and the hub's Prometheus metrics have in common: a registry whose names share
// a prefix (with Node's process metrics under it), gauges read from live state when scraped, and
// refusals counted from audit entries by what was refused and the error code.

import { collectDefaultMetrics, Counter, Gauge, Registry } from 'prom-client';
import { guardCloseReasons, type ConnectionGuardStats } from './net/index.js';

/** Label values come from audit details and report kinds: keep them to a closed, short vocabulary. */
const codePattern = /^[A-Z][A-Z0-9_]{0,63}$/;
const kindPattern = /^[a-z][a-z0-9.-]{0,31}$/;

/** A report kind or refused thing as a label value: itself when it looks like one, else 'other'. */
export function kindLabel(kind: string): string {
  return kindPattern.test(kind) ? kind : 'other';
}

export class MetricsRegistry {
  readonly registry = new Registry();
  readonly #prefix: string;
  readonly #refusals: Counter<'kind' | 'reason'>;

  /** `prefix` is `lifeline_agent_` or `lifeline_hub_`; `owner` says whose refusals they are. */
  constructor(prefix: string, owner: string) {
    this.#prefix = prefix;
    collectDefaultMetrics({ register: this.registry, prefix });
    this.#refusals = this.counter(
      'refusals_total',
      `Refusals since the ${owner} started, by what was refused (session, tunnel, login, ...) and error code.`,
      ['kind', 'reason'],
    );
  }

  /** A gauge set from `read` at each scrape. */
  gauge(name: string, help: string, read: () => number): void {
    new Gauge({
      name: this.#prefix + name,
      help,
      registers: [this.registry],
      collect() {
        this.set(read());
      },
    });
  }

  /** A gauge with labels, filled by `fill` at each scrape. */
  labeledGauge<L extends string>(
    name: string,
    help: string,
    labelNames: readonly L[],
    fill: (gauge: Gauge<L>) => Promise<void> | void,
  ): Gauge<L> {
    return new Gauge<L>({
      name: this.#prefix + name,
      help,
      labelNames,
      registers: [this.registry],
      async collect() {
        await fill(this);
      },
    });
  }

  /** A counter whose running total is kept elsewhere, mirrored from `read` at each scrape. */
  mirroredCounter(name: string, help: string, read: () => number): void {
    new Counter({
      name: this.#prefix + name,
      help,
      registers: [this.registry],
      collect() {
        this.reset();
        this.inc(read());
      },
    });
  }

  /** A counter with labels whose running totals are kept elsewhere, filled by `fill` at each scrape. */
  mirroredLabeledCounter<L extends string>(
    name: string,
    help: string,
    labelNames: readonly L[],
    fill: (set: (labels: Record<L, string>, total: number) => void) => void,
  ): void {
    new Counter<L>({
      name: this.#prefix + name,
      help,
      labelNames,
      registers: [this.registry],
      collect() {
        this.reset();
        fill((labels, total) => this.inc(labels, total));
      },
    });
  }

  /**
   * What the connection guards of a process (common/connection-guard.ts) did: connections closed
   * by deadlines and caps, by listener and reason, and unauthenticated connections open now.
   */
  connectionGuards(read: () => readonly ({ listener: string } & ConnectionGuardStats)[]): void {
    this.mirroredLabeledCounter(
      'connections_closed_total',
      'Connections closed by a deadline or a cap (handshake, authentication, headers, idle, body rate, per-address or total limit) since start, by listener and reason.',
      ['listener', 'reason'],
      (set) => {
        for (const guard of read())
          for (const reason of guardCloseReasons)
            set({ listener: guard.listener, reason }, guard.closed[reason]);
      },
    );
    this.labeledGauge(
      'connections_unauthenticated',
      'Connections accepted and not yet authenticated (TLS handshakes included), by listener.',
      ['listener'],
      (gauge) => {
        for (const guard of read()) gauge.set({ listener: guard.listener }, guard.unauthenticated);
      },
    );
  }

  counter<L extends string = never>(name: string, help: string, labelNames: readonly L[] = []): Counter<L> {
    return new Counter<L>({ name: this.#prefix + name, help, labelNames, registers: [this.registry] });
  }

  /** Counts an audit entry whose action ends in `.refused`, by the thing refused and its code. */
  observeRefusal(action: string, detail: Readonly<Record<string, unknown>>): boolean {
    if (!action.endsWith('.refused')) return false;
    this.#refusals.inc({
      kind: kindLabel(action.slice(0, -'.refused'.length)),
      reason: typeof detail.code === 'string' && codePattern.test(detail.code) ? detail.code : 'OTHER',
    });
    return true;
  }

  /**
   * Counts the refusals of a summary entry (`{ codes: { CODE: count } }`, written in place of one
   * entry per refusal under a flood) as `observeRefusal` counts single ones.
   */
  observeRefusalSummary(kind: string, detail: Readonly<Record<string, unknown>>): void {
    const codes = detail.codes;
    if (typeof codes !== 'object' || codes === null) return;
    for (const [code, count] of Object.entries(codes)) {
      if (typeof count !== 'number' || !Number.isInteger(count) || count <= 0) continue;
      this.#refusals.inc({ kind: kindLabel(kind), reason: codePattern.test(code) ? code : 'OTHER' }, count);
    }
  }

  render(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}
