// Uploads on the running agent: the upload channel (chunks on a connection of their own) and the
// uploader that sends staged files once their problem's reports are delivered. close() abandons a
// chunk in flight (the hub's count says where to resume) and drops the channel.

import type { Kysely } from 'kysely';
import type { TLSSocket } from 'node:tls';
import type { Clock } from '../../common/clock.js';
import type { StoreRoom } from '../../common/disk/index.js';
import type { Logger } from '../../common/logger.js';
import type { AgentDatabase } from '../store/index.js';
import { AttachmentStore } from './attachment-store.js';
import { UploadChannel } from './upload-channel.js';
import type { SendBytes } from './upload-exchange.js';
import { Uploader, type UploaderOptions } from './uploader.js';

export interface UploadsDeps {
  db: Kysely<AgentDatabase>;
  /** A TLS connection with the upload ALPN to the hub endpoint in use. */
  connect: (signal?: AbortSignal) => Promise<TLSSocket>;
  /** Start and complete, and chunks when the channel cannot be opened: over call home. */
  send: SendBytes;
  transmissions: UploaderOptions['transmissions'];
  /** Where staged files are kept (DATADIR/attachments). */
  dir: string;
  audit: UploaderOptions['audit'];
  room: StoreRoom;
  /** Maintenance mode as the administrator left it (null: none). */
  pausedUntilMs: number | null;
  clock: Clock;
  logger: Logger;
}

export interface Uploads {
  uploader: Uploader;
  /** Its connection is dropped when the hub endpoint or the station certificate changes. */
  channel: UploadChannel;
  close(): Promise<void>;
}

export function startUploads(deps: UploadsDeps): Uploads {
  const channel = new UploadChannel({ connect: deps.connect });
  const uploader = new Uploader({
    store: new AttachmentStore(deps.db),
    transmissions: deps.transmissions,
    send: deps.send,
    sendChunkFrame: (chunk, body, options) => channel.send(chunk, body, options),
    prepareChunkChannel: (signal) => channel.prepare(signal),
    dir: deps.dir,
    clock: deps.clock,
    logger: deps.logger,
    audit: deps.audit,
    room: deps.room,
  });
  if (deps.pausedUntilMs !== null) uploader.pause(deps.pausedUntilMs);
  uploader.start();
  return {
    uploader,
    channel,
    async close() {
      await uploader.close();
      channel.close();
    },
  };
}
