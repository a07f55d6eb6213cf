// Preload (sandboxed, context-isolated): exposes exactly the QrLoginApi as window.qrLogin. Each method
// invokes its own channel; ipcRenderer itself, IpcRendererEvent objects and Node never reach the page.
import { contextBridge, ipcRenderer } from "electron";
import { EVENT_CHANNELS, IPC, type ChannelSide, type DeviceRole, type ProgressEvent, type QrLoginApi } from "./api.js";

/** Main passes the window's role via webPreferences.additionalArguments: --qr-login-role=new etc. */
function arg(name: string): string | null {
  const prefix = `--qr-login-${name}=`;
  const hit = process.argv.find((a) => a.startsWith(prefix));
  return hit === undefined ? null : hit.slice(prefix.length);
}

const role = arg("role");
const side = arg("side");

const api: QrLoginApi = {
  start: (options) => ipcRenderer.invoke(IPC.start, { role: options.role, side: options.side }),
  submitQr: (payload) => ipcRenderer.invoke(IPC.submitQr, new Uint8Array(payload)),
  submitCheckCode: (code) => ipcRenderer.invoke(IPC.submitCheckCode, String(code)),
  confirmAccount: (accept) => ipcRenderer.invoke(IPC.confirmAccount, accept === true),
  openVerificationUri: () => ipcRenderer.invoke(IPC.openVerificationUri),
  cancel: () => ipcRenderer.invoke(IPC.cancel),
  retry: () => ipcRenderer.invoke(IPC.retry),
  onProgress(listener) {
    // Only the event payload is passed on: the IpcRendererEvent would expose `sender` (ipcRenderer).
    const wrap = (_event: unknown, data: ProgressEvent): void => listener(data);
    for (const ch of Object.values(EVENT_CHANNELS)) ipcRenderer.on(ch, wrap);
    return () => {
      for (const ch of Object.values(EVENT_CHANNELS)) ipcRenderer.removeListener(ch, wrap);
    };
  },
  initial: {
    role: role === "new" || role === "existing" ? (role as DeviceRole) : null,
    side: side === "show" || side === "scan" ? (side as ChannelSide) : null,
    label: arg("label") ?? "",
  },
};

contextBridge.exposeInMainWorld("qrLogin", api);
