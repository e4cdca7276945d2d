// Redaction of call-home payloads: host names, IP addresses and user names in every string value
// become stable pseudonyms (an HMAC-SHA256 under a per-station secret), so the vendor can still see
// that two reports name the same host without learning which host. Pure: the names to look for are
// given (see redact-sources.ts for where the agent finds them).

import { createHmac } from 'node:crypto';
import { isIP } from 'node:net';

export interface RedactionRules {
  hostnames: boolean;
  addresses: boolean;
  usernames: boolean;
  /** Host names replaced wherever they stand as a word (the machine's own names, configured ones). */
  hostNames: readonly string[];
  /** User names replaced wherever they stand as a word. */
  userNames: readonly string[];
}

export type PseudonymKind = 'host' | 'ip' | 'user';

/**
 * Keys whose values are never rewritten: identifiers, enumerations and version levels that the
 * receiving schema checks or the vendor needs as they are (a problem's local id, its severity, a
 * report type, firmware and OS levels, digests), never names or addresses. "1.2.3.4" as a firmware
 * level would otherwise be taken for an address.
 */
export const structuralKeys: ReadonlySet<string> = new Set([
  'localId',
  'severity',
  'type',
  'firmware',
  'kernel',
  'os',
  'lifelineVersion',
  'digest',
  'sha256',
]);

/**
 * File name endings that look like top-level domains ("agent.yaml"): a dotted word ending in one of
 * these is taken for a file name, not a host name. Listed names are still replaced.
 */
const fileEndings = new Set(
  (
    'log txt yaml yml json xml conf cfg ini sh py js ts mjs cjs gz tgz bz xz zst tar zip html htm pem ' +
    'key crt csr cer der csv md db sqlite so dll exe bin img iso rpm deb dat out err pid lock sock tmp ' +
    'bak old orig swp service socket timer mount target rules jpg jpeg png gif svg pdf doc docx rst java ' +
    'class jar go rs rb pl php cpp hpp cc hh toml env properties'
  ).split(' '),
);

interface Span {
  start: number;
  end: number;
  replacement: string;
  /** 0 for a listed name, 1 for a pattern: "svc.backup" listed as a user is a user, not a host. */
  rank: number;
}

const wordChar = /[0-9A-Za-z_]/;
const hexRun = /[0-9A-Fa-f:.]+/g;
const zone = /^%[0-9A-Za-z_.-]+/;
const octet = '(?:25[0-5]|2[0-4]\\d|1\\d\\d|[1-9]?\\d)';
const ipv4 = new RegExp(`(?<![0-9A-Za-z_.])(?:${octet}\\.){3}${octet}(?![0-9A-Za-z_]|\\.\\d)`, 'g');
const label = '[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?';
const dnsName = new RegExp(
  `(?<![0-9A-Za-z_.-])(?:${label}\\.)+([A-Za-z](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)(?![0-9A-Za-z_-]|\\.[A-Za-z0-9])`,
  'g',
);

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** One regular expression matching any of the names as a whole word; longest names first. */
function wordsPattern(names: readonly string[], flags: string): RegExp | undefined {
  const unique = [...new Set(names.map((n) => n.trim()).filter((n) => n.length > 0))];
  if (unique.length === 0) return undefined;
  unique.sort((a, b) => b.length - a.length);
  return new RegExp(
    `(?<![0-9A-Za-z_.-])(?:${unique.map(escapeRegExp).join('|')})(?![0-9A-Za-z_-]|\\.[A-Za-z0-9])`,
    flags,
  );
}

/** The same address always gets the same pseudonym, however it is written. */
function canonicalAddress(address: string): string {
  const bare = address.replace(/%.*$/, '');
  if (isIP(bare) !== 6) return bare;
  return new URL(`http://[${bare}]/`).hostname.slice(1, -1);
}

export class Redactor {
  readonly #secret: Buffer;
  readonly #rules: RedactionRules;
  readonly #hosts: RegExp | undefined;
  readonly #users: RegExp | undefined;

  constructor(secret: string | Uint8Array, rules: RedactionRules) {
    this.#secret = Buffer.from(secret);
    if (this.#secret.length < 16) throw new RangeError('the redaction secret needs at least 16 bytes');
    this.#rules = rules;
    this.#hosts = rules.hostnames ? wordsPattern(rules.hostNames, 'gi') : undefined;
    this.#users = rules.usernames ? wordsPattern(rules.userNames, 'g') : undefined;
  }

  /** `host-3f9a1c2b`: eight hex digits of HMAC-SHA256(secret, kind, value). */
  pseudonym(kind: PseudonymKind, value: string): string {
    const canonical =
      kind === 'host'
        ? value.toLowerCase().replace(/\.$/, '')
        : kind === 'ip'
          ? canonicalAddress(value)
          : value;
    const mac = createHmac('sha256', this.#secret).update(`${kind}\0${canonical}`).digest('hex');
    return `${kind}-${mac.slice(0, 8)}`;
  }

  /** Every string value in a JSON-like value, rewritten; keys and other values are kept. */
  redactValue<T>(value: T, keep: ReadonlySet<string> = structuralKeys): T {
    return this.#walk(value, keep) as T;
  }

  #walk(value: unknown, keep: ReadonlySet<string>): unknown {
    if (typeof value === 'string') return this.redactText(value);
    if (Array.isArray(value)) return value.map((v) => this.#walk(v, keep));
    if (value !== null && typeof value === 'object') {
      const out: Record<string, unknown> = {};
      for (const [key, v] of Object.entries(value)) {
        out[key] = keep.has(key) ? v : this.#walk(v, keep);
      }
      return out;
    }
    return value;
  }

  /**
   * One pass over the original text: every detector proposes spans, overlapping ones are resolved
   * (earliest start, then longest), and all are replaced at once, so a pseudonym is never scanned
   * again.
   */
  redactText(text: string): string {
    const spans: Span[] = [];
    if (this.#rules.addresses) {
      this.#findIpv6(text, spans);
      for (const m of text.matchAll(ipv4)) this.#add(spans, m.index, m[0], 'ip', 1);
    }
    if (this.#rules.hostnames) {
      for (const m of text.matchAll(dnsName)) {
        const tld = (m[1] ?? '').toLowerCase();
        if (/^[a-z]{2,63}$/.test(tld) && !fileEndings.has(tld)) this.#add(spans, m.index, m[0], 'host', 1);
      }
      if (this.#hosts) for (const m of text.matchAll(this.#hosts)) this.#add(spans, m.index, m[0], 'host', 0);
    }
    if (this.#users) for (const m of text.matchAll(this.#users)) this.#add(spans, m.index, m[0], 'user', 0);
    if (spans.length === 0) return text;
    spans.sort((a, b) => a.start - b.start || b.end - a.end || a.rank - b.rank);
    let out = '';
    let at = 0;
    for (const span of spans) {
      if (span.start < at) continue;
      out += text.slice(at, span.start) + span.replacement;
      at = span.end;
    }
    return out + text.slice(at);
  }

  #add(spans: Span[], start: number, matched: string, kind: PseudonymKind, rank: number): void {
    spans.push({ start, end: start + matched.length, replacement: this.pseudonym(kind, matched), rank });
  }

  /** Runs of hex digits, colons and dots that are an IPv6 address as a whole word (zone included). */
  #findIpv6(text: string, spans: Span[]): void {
    for (const m of text.matchAll(hexRun)) {
      let start = m.index;
      let candidate = m[0];
      if (!candidate.includes(':')) continue;
      // "addr:fe80::1": a single leading colon separates, it is not part of the address.
      if (candidate.startsWith(':') && !candidate.startsWith('::')) {
        candidate = candidate.slice(1);
        start += 1;
      } else if (start > 0 && wordChar.test(text.charAt(start - 1))) continue;
      candidate = candidate.replace(/\.+$/, '');
      // "fe80::1: refused": a trailing single colon ends the sentence, not the address.
      if (isIP(candidate) !== 6 && candidate.endsWith(':')) candidate = candidate.slice(0, -1);
      if (!/[0-9A-Fa-f]/.test(candidate) || isIP(candidate) !== 6) continue;
      const after = zone.exec(text.slice(start + candidate.length));
      const whole = after ? candidate + after[0] : candidate;
      if (wordChar.test(text.charAt(start + whole.length))) continue;
      spans.push({ start, end: start + whole.length, replacement: this.pseudonym('ip', candidate), rank: 1 });
    }
  }
}
