// What a process has opened, closed in reverse order: at shutdown, and when start-up fails half-way.
// Each step registers its close as soon as it has opened something, so a failure further on closes
// exactly what was opened before it (nothing is left running: no timer, loop, socket or database).

/** Something that can be closed; a returned promise is awaited. */
export interface Closable {
  close(): unknown;
}

export class CloseStack {
  readonly #steps: { name: string; close: () => unknown }[] = [];
  readonly #onError: (err: unknown, name: string) => void;
  #closing: Promise<void> | undefined;

  /** `onError` hears of a close that failed; the closes after it run all the same. */
  constructor(options: { onError: (err: unknown, name: string) => void }) {
    this.#onError = options.onError;
  }

  /** Registers `resource` to be closed, and returns it. */
  use<T extends Closable>(name: string, resource: T): T {
    this.defer(name, () => resource.close());
    return resource;
  }

  /** Registers a step to run at close, before every step registered earlier. */
  defer(name: string, close: () => unknown): void {
    if (this.#closing) throw new Error(`${name} was opened after its process began to close`);
    this.#steps.push({ name, close });
  }

  /**
   * Runs every registered close, the newest first, each to its end before the next. Idempotent:
   * a second call returns the first one's promise.
   */
  close(): Promise<void> {
    this.#closing ??= this.#run();
    return this.#closing;
  }

  async #run(): Promise<void> {
    for (const step of this.#steps.splice(0).reverse()) {
      try {
        await step.close();
      } catch (err) {
        this.#onError(err, step.name);
      }
    }
  }
}
