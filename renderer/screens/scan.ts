// Reading the other device's QR: camera, screen or window capture, an image file, a pasted image, or
// the code pasted as text. The bytes go to main as they are (renderer/scan.ts decodes them).
import { copy } from "../copy.js";
import { button, h } from "../dom.js";
import { decodeBlob, openCamera, openScreen, parsePayloadText, watchStream } from "../scan.js";
import type { ScanSource } from "../view-model.js";
import { cancelButton, heading } from "./parts.js";
import type { ScreenView } from "./view.js";

export const scan: ScreenView<"scan"> = (s, ctx) => {
  const { send } = ctx;
  const t = copy.scan;
  const video = h("video", { class: "scanner", playsinline: true, "aria-label": s.source === "screen" ? t.screenView : t.cameraView });
  const problem = h("p", { class: "field-error", role: "alert", id: "scan-problem" }, s.problem ?? "");
  const scanned = (bytes: Uint8Array): void => send({ type: "qr_scanned", bytes });

  // The stream opens after the system's prompt; the screen may be gone by then.
  let gone = false;
  let stopStream: (() => void) | null = null;
  const streamScan = (source: ScanSource): void => {
    (source === "camera" ? openCamera() : openScreen()).then(
      (stream) => {
        if (gone) {
          // The user moved on while the permission prompt was open: release the device at once.
          for (const track of stream.getTracks()) track.stop();
          return;
        }
        stopStream = watchStream(video, stream, scanned);
      },
      (err: unknown) => {
        if (gone) return;
        const denied = err instanceof DOMException && (err.name === "NotAllowedError" || err.name === "SecurityError");
        send({ type: "scan_problem", problem: source === "camera" ? (denied ? t.cameraDenied : t.noCamera) : t.noScreen });
      },
    );
  };
  const source = s.source;
  const opening = source === null ? undefined : window.setTimeout(() => streamScan(source), 0);

  const decodeFile = async (blob: Blob): Promise<void> => {
    const bytes = await decodeBlob(blob).catch(() => null);
    if (bytes) scanned(bytes);
    else send({ type: "scan_problem", problem: t.noCodeInImage });
  };
  const file = h("input", {
    id: "scan-file",
    type: "file",
    accept: "image/*",
    hidden: true,
    onchange: () => {
      const f = file.files?.[0];
      if (f) void decodeFile(f);
    },
  });
  const pasteArea = h("textarea", {
    id: "paste-text",
    rows: "3",
    "aria-describedby": "paste-help",
    onpaste: (ev: Event) => {
      const items = (ev as ClipboardEvent).clipboardData?.items;
      for (const it of items ? [...items] : []) {
        if (it.kind === "file" && it.type.startsWith("image/")) {
          const blob = it.getAsFile();
          if (blob) {
            ev.preventDefault();
            void decodeFile(blob);
            return;
          }
        }
      }
    },
  });
  const element = h(
    "section",
    {},
    heading(t.title),
    h("p", {}, t.intro),
    s.source !== null ? h("div", { class: "video-frame" }, video) : null,
    problem,
    h(
      "div",
      { class: "choices" },
      button(t.useCamera, () => send({ type: "want_camera" }), { primary: s.source === null }),
      button(t.captureScreen, () => send({ type: "scan_source", source: "screen" })),
      button(t.openFile, () => file.click()),
      file,
    ),
    h(
      "form",
      {
        onsubmit: (ev: Event) => {
          ev.preventDefault();
          const bytes = parsePayloadText(pasteArea.value);
          if (bytes) scanned(bytes);
          else send({ type: "scan_problem", problem: t.notAPayload });
        },
      },
      h("label", { for: "paste-text" }, t.pasteLabel),
      h("p", { id: "paste-help", class: "help" }, t.pasteHelp),
      pasteArea,
      h("div", { class: "actions" }, h("button", { type: "submit", class: "secondary" }, t.usePasted), cancelButton(ctx)),
    ),
  );
  return {
    element,
    cleanup: () => {
      gone = true;
      window.clearTimeout(opening);
      stopStream?.();
    },
  };
};
