// SIGINT (Ctrl+C) and SIGTERM for the long-running commands: a server stops when one comes, a flow
// is cancelled (it then tells the peer and deletes its rendezvous session).

/** Resolves with the first SIGINT or SIGTERM; a second one gets Node's default (exit). */
export function nextStopSignal(): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    const stop = (signal: NodeJS.Signals): void => {
      process.off("SIGINT", stop);
      process.off("SIGTERM", stop);
      resolve(signal);
    };
    process.on("SIGINT", stop);
    process.on("SIGTERM", stop);
  });
}

/** A signal aborted by the first SIGINT/SIGTERM, after `onInterrupt`; `dispose` stops listening. */
export function interruptSignal(onInterrupt?: () => void): { signal: AbortSignal; dispose(): void } {
  const controller = new AbortController();
  const onSignal = (): void => {
    onInterrupt?.();
    controller.abort(new Error("interrupted"));
  };
  process.once("SIGINT", onSignal);
  process.once("SIGTERM", onSignal);
  return {
    signal: controller.signal,
    dispose: () => {
      process.off("SIGINT", onSignal);
      process.off("SIGTERM", onSignal);
    },
  };
}
