// stdin as a queue of lines, for the commands that read it while a flow runs (`channel`, `new-device`,
// `existing-device`): lines typed early wait until asked for, and every wait can be given up.
import { createInterface } from "node:readline";
import type { Interface } from "node:readline";

export class LineQueue {
  private readonly lines: string[] = [];
  private ended = false;
  private waiters: (() => void)[] = [];
  private readonly rl: Interface;

  constructor(private readonly input: NodeJS.ReadableStream) {
    this.rl = createInterface({ input, crlfDelay: Infinity, terminal: false });
    this.rl.on("line", (line) => {
      this.lines.push(line);
      this.wake();
    });
    this.rl.on("close", () => {
      this.ended = true;
      this.wake();
    });
  }

  /** The next line as typed, or undefined at EOF or once `signal` aborts (the line then stays queued). */
  async nextLine(signal?: AbortSignal): Promise<string | undefined> {
    for (;;) {
      if (signal?.aborted) return undefined;
      const line = this.lines.shift();
      if (line !== undefined) return line;
      if (this.ended) return undefined;
      await this.changed(signal);
    }
  }

  /** The next non-blank line, trimmed: an answer typed by a person. Undefined as for nextLine. */
  async next(signal?: AbortSignal): Promise<string | undefined> {
    for (;;) {
      const line = await this.nextLine(signal);
      if (line === undefined || line.trim() !== "") return line?.trim();
    }
  }

  /** EOF reached and every line taken. */
  get drained(): boolean {
    return this.ended && this.lines.length === 0;
  }

  /** Resolves once `drained` holds. */
  async whenDrained(): Promise<void> {
    while (!this.drained) await this.changed();
  }

  /** Stops reading; the input is destroyed, so that it keeps the process alive no longer. */
  close(): void {
    this.rl.close();
    if ("destroy" in this.input && typeof this.input.destroy === "function") this.input.destroy();
  }

  private wake(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const wake of waiters) wake();
  }

  /** Resolves on the next line or EOF, or when `signal` aborts. */
  private changed(signal?: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      const done = (): void => {
        signal?.removeEventListener("abort", done);
        resolve();
      };
      this.waiters.push(done);
      signal?.addEventListener("abort", done, { once: true });
    });
  }
}
