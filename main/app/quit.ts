// Quitting waits, up to a bound, for the work that must not be cut off: the running flows tell the
// other device (MSC4108 m.login.failure user_cancelled) and DELETE their rendezvous sessions, then the
// development stack closes (devhome and its stores). Electron's app 'before-quit' event can be
// prevented (docs/api/app.md: "Calling event.preventDefault() will prevent the default behavior, which
// is terminating the application"), so the first quit is held, the cleanup runs, and app.quit() is
// called again once it is done or the bound has passed.

export interface QuittableApp {
  on(event: "before-quit", listener: (event: { preventDefault(): void }) => void): unknown;
  quit(): void;
}

export interface QuitGuard {
  /** Resolves when the cleanup has finished (or was cut off by the bound). */
  readonly settled: Promise<void>;
}

export function installQuitGuard(app: QuittableApp, cleanup: () => Promise<void>, opts: { timeoutMs: number; onTimeout?(): void }): QuitGuard {
  let state: "running" | "cleaning" | "done" = "running";
  let settle!: () => void;
  const settled = new Promise<void>((resolve) => (settle = resolve));
  app.on("before-quit", (event) => {
    if (state === "done") return; // the second quit: let Electron terminate
    event.preventDefault();
    if (state === "cleaning") return;
    state = "cleaning";
    let timer: NodeJS.Timeout | undefined;
    const bound = new Promise<void>((resolve) => {
      timer = setTimeout(() => {
        opts.onTimeout?.();
        resolve();
      }, opts.timeoutMs);
    });
    void Promise.race([cleanup().catch(() => undefined), bound]).then(() => {
      clearTimeout(timer);
      state = "done";
      settle();
      app.quit();
    });
  });
  return { settled };
}
