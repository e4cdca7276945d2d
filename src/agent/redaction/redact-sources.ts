// Where the agent finds the names to redact on this machine: its own host names (the host name,
// and the names /etc/hosts gives it, such as its FQDN) and its people's accounts (uid >= 1000 in
// /etc/passwd, without nobody). Read once when the agent starts.

import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';

function readOr(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return '';
  }
}

/** The machine's host name, its short form, and the names /etc/hosts lists on the same line. */
export function ownHostNames(hostsText = readOr('/etc/hosts'), name = hostname()): string[] {
  const names = new Set<string>();
  const add = (n: string): void => {
    if (n && n !== 'localhost' && !n.startsWith('localhost.') && !n.startsWith('ip6-')) names.add(n);
  };
  add(name);
  const short = name.split('.')[0] ?? '';
  add(short);
  for (const line of hostsText.split('\n')) {
    const fields = line.replace(/#.*/, '').trim().split(/\s+/).slice(1);
    if (fields.some((f) => f === name || f.split('.')[0] === short)) fields.forEach(add);
  }
  return [...names];
}

/** Accounts of people: uid 1000 and above, except nobody (65534). */
export function localUserNames(passwdText = readOr('/etc/passwd')): string[] {
  const names: string[] = [];
  for (const line of passwdText.split('\n')) {
    const [name, , uidText] = line.split(':');
    const uid = Number(uidText);
    if (name && Number.isInteger(uid) && uid >= 1000 && uid !== 65534) names.push(name);
  }
  return names;
}
