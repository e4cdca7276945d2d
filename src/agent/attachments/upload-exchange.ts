// One step of an upload on the wire (start, a chunk, complete): its manifest, the way it goes (a
// chunk over the upload channel while there is one, anything else over call home), the line it
// leaves in the transmission log, and how the hub's answer is read: a resume point, or a refusal
// worth retrying later (RetryLater) or final (GiveUp).

import { answerError, parseAnswerBody, type AnswerBody } from '../../common/net/index.js';
import type { Clock } from '../../common/clock.js';
import type { Logger } from '../../common/logger.js';
import {
  buildManifest,
  encodeManifest,
  manifestHeader,
  type AttachmentStepKind,
  type Manifest,
} from '../../protocol/index.js';
import type { HubAnswer } from '../link/index.js';
import type { AttachmentRecord } from './attachment-store.js';
import { UploadChannelUnavailable, type ChunkFrame, type ChunkSendOptions } from './upload-channel.js';

/** Sends exact bytes to the hub; resolves with any HTTP answer, rejects when none came. */
export type SendBytes = (
  method: string,
  path: string,
  body: Uint8Array | undefined,
  headers: Record<string, string>,
  options: { signal?: AbortSignal; idleTimeoutMs?: number; onBodySent?: () => void },
) => Promise<HubAnswer>;

/** Sends one chunk over the upload channel (upload-channel.ts); same answers as the chunk's PUT. */
export type SendChunkFrame = (
  chunk: ChunkFrame,
  body: Uint8Array,
  options: ChunkSendOptions,
) => Promise<HubAnswer>;

/** One answered step of an upload (start, a chunk, complete), as the transmission log keeps it. */
export interface UploadStep {
  attachmentId: string;
  atMs: number;
  kind: AttachmentStepKind;
  bytes: number;
  sha256: string;
  status: number;
  answer: string;
  /** The manifest the step carried (what, how many bytes, SHA-256). */
  manifest?: Manifest;
}

/** Worth trying again later (network, hub busy or not ready): the upload stays staged. */
export class RetryLater extends Error {}
/** Sending again cannot help: the upload is marked failed and shown. */
export class GiveUp extends Error {}

/** The hub's answer to a step: its status, and its JSON body ({} when it had none). */
export interface Answer {
  status: number;
  /** The answer's JSON object; {} when it was not one. */
  body: AnswerBody;
  text: string;
}

/** What one step sends, beyond where it goes. */
export interface StepContent {
  body?: Buffer;
  contentType?: string;
  contains: string;
  parts?: Manifest['parts'];
  /** The body's SHA-256, when hashed already. */
  sha256?: string;
  idleTimeoutMs?: number;
  onBodySent?: () => void;
  /** A chunk: it may go over the upload channel. */
  chunkIndex?: number;
}

export interface UploadExchangeOptions {
  send: SendBytes;
  /** Chunks go here when given; when it cannot be opened, an attempt's chunks go over `send`. */
  sendChunkFrame?: SendChunkFrame | undefined;
  /** The transmission log every answered step is written to (the outbox's, in agent.db). */
  transmissions: { recordUploadStep(step: UploadStep): Promise<void> };
  clock: Clock;
  logger: Logger;
  /** Aborts every step under way (the uploader stops). */
  signal: AbortSignal;
}

export class UploadExchange {
  readonly #options: UploadExchangeOptions;
  /** The upload channel could not be opened in this attempt: its chunks go over call home. */
  #channelUnavailable = false;

  constructor(options: UploadExchangeOptions) {
    this.#options = options;
  }

  /** A new attempt: the upload channel is tried again for its chunks. */
  newAttempt(): void {
    this.#channelUnavailable = false;
  }

  /** One step with its manifest, logged as a transmission once answered. */
  async exchange(
    attachment: AttachmentRecord,
    kind: AttachmentStepKind,
    method: string,
    path: string,
    step: StepContent,
  ): Promise<Answer> {
    const options = this.#options;
    const manifest = buildManifest(step.body ?? new Uint8Array(0), {
      kind,
      id: attachment.id,
      contains: step.contains,
      ...(step.parts ? { parts: step.parts } : {}),
      ...(step.sha256 ? { sha256: step.sha256 } : {}),
    });
    const manifestText = encodeManifest(manifest);
    const headers: Record<string, string> = { [manifestHeader]: manifestText };
    if (step.contentType) headers['content-type'] = step.contentType;
    let result: HubAnswer;
    try {
      result =
        (await this.#sendOverChannel(attachment, step, manifestText)) ??
        (await options.send(method, path, step.body, headers, {
          signal: options.signal,
          ...(step.idleTimeoutMs ? { idleTimeoutMs: step.idleTimeoutMs } : {}),
          ...(step.onBodySent ? { onBodySent: step.onBodySent } : {}),
        }));
    } catch (err) {
      throw new RetryLater(`the hub did not answer: ${err instanceof Error ? err.message : String(err)}`);
    }
    await options.transmissions.recordUploadStep({
      attachmentId: attachment.id,
      atMs: options.clock.now(),
      kind,
      bytes: manifest.bytes,
      sha256: manifest.sha256,
      status: result.status,
      answer: result.answer,
      manifest,
    });
    return { status: result.status, body: parseAnswerBody(result.answer) ?? {}, text: result.answer };
  }

  /** A chunk over the upload channel; undefined when there is none (it then goes over call home). */
  async #sendOverChannel(
    attachment: AttachmentRecord,
    step: StepContent,
    manifest: string,
  ): Promise<HubAnswer | undefined> {
    const sendFrame = this.#options.sendChunkFrame;
    if (!sendFrame || step.chunkIndex === undefined || !step.body || this.#channelUnavailable)
      return undefined;
    try {
      return await sendFrame({ id: attachment.id, index: step.chunkIndex, manifest }, step.body, {
        signal: this.#options.signal,
        ...(step.onBodySent ? { onBodySent: step.onBodySent } : {}),
      });
    } catch (err) {
      if (!(err instanceof UploadChannelUnavailable)) throw err;
      if (!this.#channelUnavailable) {
        this.#channelUnavailable = true;
        this.#options.logger.info(
          { error: err.message },
          'attachments: the upload channel is not available; chunks go over call home',
        );
      }
      return undefined;
    }
  }
}

/** The hub's count of bytes it synced, from an answer: where the upload goes on. */
export function resumePoint(attachment: AttachmentRecord, body: Record<string, unknown>): number {
  const received = body.receivedBytes;
  if (
    typeof received !== 'number' ||
    !Number.isInteger(received) ||
    received < 0 ||
    received > attachment.bytes ||
    (received % attachment.chunkBytes !== 0 && received !== attachment.bytes)
  ) {
    throw new RetryLater(`the hub answered an unusable receivedBytes: ${JSON.stringify(received)}`);
  }
  return received;
}

/** Classifies a refusal: some are worth retrying, some are final. Never returns. */
export function refused(answer: Answer, step: string): never {
  const refusal = answerError(answer.status, answer.text, 'the hub');
  const message = `${step}: ${refusal.message} (${refusal.code})`;
  const final =
    answer.status === 400 ||
    answer.status === 410 ||
    answer.status === 413 ||
    (answer.status === 409 && refusal.code === 'CALLHOME_ATTACHMENT_CONFLICT');
  throw final ? new GiveUp(message, { cause: refusal }) : new RetryLater(message, { cause: refusal });
}
