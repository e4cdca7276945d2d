// Reading an answer of Lifeline's HTTP APIs on the client side (CLI, agent call home, uploads,
// fixes): a JSON object on success, `{ code, message }` on failure (docs/errors.md). The one place
// an answer becomes a LifelineError, so every client reports a refusal the same way.

import { LifelineError, isErrorCode } from '../errors.js';

export type AnswerBody = Record<string, unknown>;

/** What an answer that carries no code of ours said, kept as its error's cause. */
export interface ForeignAnswer {
  status: number;
  /** The code it named, when it named one (a newer peer's, or not ours at all). */
  code?: string;
  /** The start of its body, when it was not a JSON object. */
  text?: string;
}

/** Enough of a body that is not JSON to recognise it (a proxy's error page); never more. */
const maxQuotedChars = 120;

/** The JSON object of an answer body; undefined when it is empty, not JSON, or not an object. */
export function parseAnswerBody(text: string): AnswerBody | undefined {
  if (text.trim() === '') return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return undefined;
  }
  return typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed)
    ? (parsed as AnswerBody)
    : undefined;
}

function notJson(from: string, status: number, text: string): string {
  const trimmed = text.trim();
  if (trimmed === '') return `${from} answered HTTP ${status} with an empty body`;
  const quoted = trimmed.length > maxQuotedChars ? `${trimmed.slice(0, maxQuotedChars)}…` : trimmed;
  return `${from} answered HTTP ${status}, not with JSON: ${JSON.stringify(quoted)}`;
}

/**
 * The error an answer carries (`status` is not 2xx), from its body as text or already parsed:
 * - a code of ours: that code, with the answer's message;
 * - another code, or none: INTERNAL with the answer's message (what the peer said is kept as the
 *   cause, a ForeignAnswer);
 * - no JSON object: INTERNAL, naming the status and quoting the start of the body.
 * `from` names the peer in messages: "the hub", "the agent".
 */
export function answerError(
  status: number,
  body: string | AnswerBody | undefined,
  from = 'the server',
): LifelineError {
  const payload = typeof body === 'string' ? parseAnswerBody(body) : body;
  if (!payload) {
    const text = typeof body === 'string' ? body : '';
    return new LifelineError('INTERNAL', notJson(from, status, text), {
      cause: { status, text: text.slice(0, maxQuotedChars) } satisfies ForeignAnswer,
    });
  }
  const message =
    typeof payload.message === 'string' && payload.message !== ''
      ? payload.message
      : `${from} answered HTTP ${status}`;
  if (isErrorCode(payload.code)) return new LifelineError(payload.code, message);
  const foreign: ForeignAnswer = {
    status,
    ...(typeof payload.code === 'string' ? { code: payload.code } : {}),
  };
  return new LifelineError('INTERNAL', message, { cause: foreign });
}

/**
 * A JSON answer read to its end: its value when `status` is 2xx (`{}` for an empty body, as a 204
 * has), else the error it carries (answerError). A 2xx body that is not JSON is INTERNAL.
 */
export function readAnswer<T>(status: number, text: string, from = 'the server'): T {
  if (status < 200 || status > 299) throw answerError(status, text, from);
  if (text.trim() === '') return {} as T;
  try {
    return JSON.parse(text) as T;
  } catch (err) {
    throw new LifelineError('INTERNAL', notJson(from, status, text), { cause: err });
  }
}
