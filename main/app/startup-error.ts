// Start-up failures of the desktop app. Started from a menu or a file manager there is no terminal, so
// a message printed to stdout is a silent exit: it is shown in a dialog (and still logged). Electron's
// dialog.showErrorBox "can be called safely before the ready event", but "on Linux, the message will
// be emitted to stderr, and no GUI dialog will appear" before ready (docs/api/dialog.md), so it waits
// for ready first.

/** A start-up failure with what the user can do about it. */
export class StartupError extends Error {
  override readonly name = "StartupError";
  constructor(
    readonly title: string,
    message: string,
    readonly hint: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

export interface ErrorBoxApp {
  isReady(): boolean;
  whenReady(): Promise<unknown>;
  exit(code: number): void;
}

/** What to show for any error thrown while starting. */
export function describeStartupError(err: unknown): { title: string; message: string; hint: string } {
  if (err instanceof StartupError) return { title: err.title, message: err.message, hint: err.hint };
  const message = err instanceof Error ? err.message : String(err);
  return {
    title: "qr-login could not start",
    message,
    hint: "Start it again. If this keeps happening, start it from a terminal (qr-login, or npm start in a checkout) to see more, and report the message above.",
  };
}

export async function reportStartupError(err: unknown, deps: { app: ErrorBoxApp; showErrorBox(title: string, content: string): void; log?(line: string): void }): Promise<void> {
  const { title, message, hint } = describeStartupError(err);
  (deps.log ?? ((l: string) => console.error(l)))(`qr-login: ${title}: ${message}`);
  try {
    if (!deps.app.isReady()) await deps.app.whenReady();
    deps.showErrorBox(title, `${message}\n\n${hint}`);
  } finally {
    deps.app.exit(1);
  }
}
