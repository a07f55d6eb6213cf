// One answer the user gives a running flow (a scanned QR, a typed check code, "yes, that's my
// account"): the flow waits for it, the renderer's request delivers it. An answer may come before the
// flow asks (a QR scanned while the pre-checks still run), so it is held for the next wait.

/** A mailbox for one kind of answer; the flow's abort signal ends a wait. */
export class Waiter<T> {
  private resolveFn: ((v: T) => void) | null = null;
  private rejectFn: ((e: unknown) => void) | null = null;
  /** An answer given before the flow asked (a QR scanned while the prechecks still run). */
  private early: { value: T } | null = null;
  get waiting(): boolean {
    return this.resolveFn !== null;
  }
  /** Keep an answer for the next wait(). */
  hold(value: T): void {
    this.early = { value };
  }
  wait(signal: AbortSignal): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      if (signal.aborted) return reject(signal.reason);
      if (this.early) {
        const { value } = this.early;
        this.early = null;
        return resolve(value);
      }
      const onAbort = (): void => reject(signal.reason);
      signal.addEventListener("abort", onAbort, { once: true });
      this.resolveFn = (v) => {
        signal.removeEventListener("abort", onAbort);
        this.resolveFn = this.rejectFn = null;
        resolve(v);
      };
      this.rejectFn = reject;
    });
  }
  answer(v: T): boolean {
    if (!this.resolveFn) return false;
    this.resolveFn(v);
    return true;
  }
}
