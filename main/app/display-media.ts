// "Capture a screen or window" (getDisplayMedia) for scanning a QR code shown on this desktop. Electron
// hands the choice of the source to session.setDisplayMediaRequestHandler (docs/api/session.md):
//   - the requesting window is found from the request's frame with webContents.fromFrame (a process id
//     may be shared by several windows, so it does not identify one);
//   - the source offered is the *other* window of the pair (the one showing the QR), found by its
//     media source id, never the window that asks; failing that the user picks one in a dialog (a
//     single source, as a desktop portal on Wayland returns after its own picker, is taken as it is);
//   - on macOS the Screen Recording permission is checked first, and explained when it is missing;
//   - a refusal is callback(null): Electron accepts null (the page's promise rejects), while
//     callback({}) for a video request throws "Video was requested, but no video stream was provided"
//     in main (shell/browser/electron_browser_context.cc, DisplayMediaDeviceChosen).
import type { DesktopCapturerSource, DisplayMediaRequestHandlerHandlerRequest, SourcesOptions, Streams, WebContents, WebFrameMain } from "electron";

export type ScreenAccess = "not-determined" | "granted" | "denied" | "restricted" | "unknown";

export interface DisplayMediaDeps {
  platform: NodeJS.Platform;
  fromFrame(frame: WebFrameMain): WebContents | undefined;
  /** The window's flow is scanning now. */
  isScanning(webContents: WebContents): boolean;
  /** Media source id ("window:…") of a window, or null for a WebContents we did not open. */
  sourceIdOf(webContents: WebContents): string | null;
  /** The other window of the pair (the one that shows the QR), or null when there is no pair. */
  partnerOf(webContents: WebContents): WebContents | null;
  getSources(options: SourcesOptions): Promise<DesktopCapturerSource[]>;
  /** macOS: systemPreferences.getMediaAccessStatus("screen"). */
  screenAccess(): ScreenAccess;
  /** Ask the user which source shows the QR; null when they cancel. */
  choose(requester: WebContents, sources: DesktopCapturerSource[]): Promise<DesktopCapturerSource | null>;
  /** macOS: say how to allow Screen Recording (System Settings). */
  explainScreenAccess(requester: WebContents): Promise<void>;
  onError?(err: unknown): void;
}

type Callback = (streams: Streams | null) => void;

export function createDisplayMediaHandler(deps: DisplayMediaDeps): (request: DisplayMediaRequestHandlerHandlerRequest, callback: Callback) => void {
  return (request, callback) => {
    let answered = false;
    const answer = (streams: Streams | null): void => {
      if (answered) return;
      answered = true;
      callback(streams);
    };
    void pick(deps, request).then(
      (source) => answer(source ? { video: { id: source.id, name: source.name } } : null),
      (err: unknown) => {
        deps.onError?.(err);
        answer(null);
      },
    );
  };
}

async function pick(deps: DisplayMediaDeps, request: DisplayMediaRequestHandlerHandlerRequest): Promise<DesktopCapturerSource | null> {
  if (!request.videoRequested || request.audioRequested) return null; // the scanner asks for video only
  const requester = request.frame ? deps.fromFrame(request.frame) : undefined;
  if (!requester || !deps.isScanning(requester)) return null;
  if (deps.platform === "darwin") {
    const access = deps.screenAccess();
    if (access === "denied" || access === "restricted") {
      await deps.explainScreenAccess(requester);
      return null;
    }
  }
  // Thumbnails are not needed: 0×0 skips capturing every window (docs/api/desktop-capturer.md).
  const sources = await deps.getSources({ types: ["window", "screen"], thumbnailSize: { width: 0, height: 0 } });
  const own = deps.sourceIdOf(requester);
  const candidates = sources.filter((s) => s.id !== own);
  const partner = deps.partnerOf(requester);
  const partnerId = partner ? deps.sourceIdOf(partner) : null;
  const offered = partnerId ? candidates.find((s) => s.id === partnerId) : undefined;
  if (offered) return offered;
  if (candidates.length === 0) return null;
  if (candidates.length === 1) return candidates[0]!;
  return deps.choose(requester, candidates);
}
