// The hub's check of a report's manifest: the `lifeline-manifest` header must be there, describe
// this very report, and match the exact bytes received (size and SHA-256). A report whose bytes
// differ from what the appliance said it sent is refused, not stored.

import { checkManifest, decodeManifest, manifestHeader } from '../../protocol/index.js';

/** Returns why the report's manifest is refused, or undefined when it matches. */
export function manifestProblem(
  header: string | string[] | undefined,
  body: string,
  envelope: { id: string; kind: string },
): string | undefined {
  const manifest = decodeManifest(header);
  if (typeof manifest === 'string') return manifest;
  if (manifest.id !== envelope.id || manifest.kind !== envelope.kind) {
    return `the ${manifestHeader} header describes ${manifest.kind} ${manifest.id}, not this report (${envelope.kind} ${envelope.id})`;
  }
  return checkManifest(manifest, body);
}
