// Web permissions of the renderer: deny everything except
//   - the camera (video only) for a window whose flow is scanning a QR code, from our origin;
//   - screen capture (getDisplayMedia, which Electron routes through the request handler as "media"
//     with no device media types) for a scanning window, from our origin; the source itself is chosen
//     in display-media.ts;
//   - writing text to the clipboard ("Copy code as text"), from our origin.
// Electron asks two handlers (docs/api/session.md): the request handler when a page asks for a
// permission, and the check handler when Chromium checks one (the camera's device and capability
// queries check "media" before getUserMedia requests it; "clipboard-sanitized-write" is a checked
// permission too). Both must agree, or the feature fails in one of its two steps.
import type { Session, WebContents } from "electron";
import { isAppOrigin } from "./origin.js";

export interface PermissionPolicy {
  /** The window's flow is scanning a QR code now (camera and screen capture are for that only). */
  isScanning(webContents: WebContents | null): boolean;
  appOrigin?: string;
}

type RequestDetails = { requestingUrl?: string; isMainFrame?: boolean; mediaTypes?: string[]; securityOrigin?: string };
type CheckDetails = { requestingUrl?: string; isMainFrame?: boolean; mediaType?: string; securityOrigin?: string; embeddingOrigin?: string };

/** The request handler's answer (exported for the unit tests). */
export function allowRequest(policy: PermissionPolicy, webContents: WebContents | null, permission: string, details: RequestDetails): boolean {
  const ours = isAppOrigin(details.requestingUrl, policy.appOrigin) && details.isMainFrame !== false;
  if (!ours) return false;
  switch (permission) {
    case "clipboard-sanitized-write":
      return true;
    case "media":
      // Camera: mediaTypes ["video"]. Screen capture: [] (no capture *device* is involved).
      return policy.isScanning(webContents) && (details.mediaTypes ?? []).every((t) => t === "video") && (details.securityOrigin === undefined || isAppOrigin(details.securityOrigin, policy.appOrigin));
    case "display-capture":
      return policy.isScanning(webContents);
    default:
      return false;
  }
}

/** The check handler's answer: `requestingOrigin` arrives as "app://qr-login/" (with the slash). */
export function allowCheck(policy: PermissionPolicy, webContents: WebContents | null, permission: string, requestingOrigin: string, details: CheckDetails): boolean {
  if (!isAppOrigin(requestingOrigin, policy.appOrigin)) return false;
  if (details.embeddingOrigin !== undefined && !isAppOrigin(details.embeddingOrigin, policy.appOrigin)) return false;
  switch (permission) {
    case "clipboard-sanitized-write":
      return true;
    case "media":
      return details.mediaType !== "audio" && policy.isScanning(webContents);
    default:
      return false;
  }
}

export function installPermissionHandlers(session: Session, policy: PermissionPolicy): void {
  session.setPermissionRequestHandler((webContents, permission, callback, details) => callback(allowRequest(policy, webContents, permission, details as RequestDetails)));
  session.setPermissionCheckHandler((webContents, permission, requestingOrigin, details) => allowCheck(policy, webContents, permission, requestingOrigin, details as CheckDetails));
}
