// What a process opens one after another, closed in reverse: a start that fails half way closes
// what it had opened before the error reaches the caller, and a close awaits each part before the
// part opened before it (a store outlives the servers that write to it).

/** Anything with a close; a promise it returns is awaited. */
export interface Closable {
  close(): void | Promise<void>;
}

export class CloseStack {
  readonly #closers: Array<() => void | Promise<void>> = [];
  #closing: Promise<void> | undefined;

  /** Keeps `part` to be closed with the stack; returns it. */
  use<T extends Closable>(part: T): T {
    this.defer(() => part.close());
    return part;
  }

  /** Runs `close` when the stack closes, before everything added earlier. */
  defer(close: () => void | Promise<void>): void {
    // Something opened after close began would never be closed.
    if (this.#closing) throw new Error('the stack is closing: nothing more can be added');
    this.#closers.push(close);
  }

  /**
   * Closes in reverse order of adding, each awaited before the next. A part that fails to close
   * does not keep the others open: its error is thrown once all have run (the first, if several).
   * Idempotent: a second call waits for the first.
   */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      const errors: unknown[] = [];
      for (const close of this.#closers.reverse()) {
        try {
          await close();
        } catch (err) {
          errors.push(err);
        }
      }
      this.#closers.length = 0;
      if (errors.length > 0) throw errors[0];
    })();
    return this.#closing;
  }
}
