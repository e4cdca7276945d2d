// Which hub node this data directory is: an id no other node has and a name people read in
// `lifeline hub nodes`. Made by `hub init` or `hub join`; a data directory from before clusters
// gets one at its first start.

import { existsSync, readFileSync } from 'node:fs';
import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { z } from 'zod';
import { LifelineError } from '../../common/errors.js';
import { writePrivateFile } from '../../common/disk/index.js';

const nodeIdentitySchema = z.object({ id: z.uuid(), name: z.string().min(1).max(200) }).strict();
export type NodeIdentity = z.infer<typeof nodeIdentitySchema>;

export function nodeIdentityPath(dataDir: string): string {
  return join(dataDir, 'node.json');
}

/** A new node's identity; its name defaults to the host's name. */
export function newNodeIdentity(name?: string): NodeIdentity {
  return { id: randomUUID(), name: name ?? hostname() };
}

export function writeNodeIdentity(dataDir: string, identity: NodeIdentity): void {
  writePrivateFile(nodeIdentityPath(dataDir), JSON.stringify(identity, null, 2) + '\n');
}

/** The node's identity, made and kept on first use. */
export function loadNodeIdentity(dataDir: string): NodeIdentity {
  const path = nodeIdentityPath(dataDir);
  if (!existsSync(path)) {
    const identity = newNodeIdentity();
    writeNodeIdentity(dataDir, identity);
    return identity;
  }
  try {
    return nodeIdentitySchema.parse(JSON.parse(readFileSync(path, 'utf8')));
  } catch (err) {
    throw new LifelineError(
      'CONFIG_INVALID',
      `${path}: not a node identity written by lifeline (expected {"id": UUID, "name": TEXT})`,
      {
        cause: err,
      },
    );
  }
}
