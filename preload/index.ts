// Preload (sandboxed, context-isolated): exposes exactly the QrLoginApi as window.qrLogin. Each method
// invokes its own channel; ipcRenderer itself, IpcRendererEvent objects and Node never reach the page.
import { contextBridge, ipcRenderer } from "electron";
import { ACCOUNT_CHANNEL, EVENT_CHANNELS, IPC, SERVER_CHECK_CHANNEL, type AccountEvent, type ChannelSide, type DeviceRole, type ProgressEvent, type QrLoginApi, type ServerCheckEvent } from "./api.js";

/**
 * Main passes the window's role and side via webPreferences.additionalArguments (--qr-login-role=new).
 * Only those two: a renderer's command line is visible to every local user (`ps`), so nothing about
 * the account (a Matrix user id, a label naming it) is put there; the rest comes from getAppInfo().
 */
function arg(name: string): string | null {
  const prefix = `--qr-login-${name}=`;
  const hit = process.argv.find((a) => a.startsWith(prefix));
  return hit === undefined ? null : hit.slice(prefix.length);
}

const role = arg("role");
const side = arg("side");

const api: QrLoginApi = {
  start: (options) =>
    ipcRenderer.invoke(IPC.start, typeof options.homeserver === "string" ? { role: options.role, side: options.side, homeserver: options.homeserver } : { role: options.role, side: options.side }),
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
  getAppInfo: () => ipcRenderer.invoke(IPC.getAppInfo),
  signIn: (homeserver) => ipcRenderer.invoke(IPC.signIn, String(homeserver)),
  submitRecoveryKey: (key) => ipcRenderer.invoke(IPC.submitRecoveryKey, String(key)),
  openSignInPage: () => ipcRenderer.invoke(IPC.openSignInPage),
  cancelSignIn: () => ipcRenderer.invoke(IPC.cancelSignIn),
  signOut: () => ipcRenderer.invoke(IPC.signOut),
  onAccount(listener) {
    const wrap = (_event: unknown, data: AccountEvent): void => listener(data);
    ipcRenderer.on(ACCOUNT_CHANNEL, wrap);
    return () => {
      ipcRenderer.removeListener(ACCOUNT_CHANNEL, wrap);
    };
  },
  checkServer: () => ipcRenderer.invoke(IPC.checkServer),
  onServerCheck(listener) {
    const wrap = (_event: unknown, data: ServerCheckEvent): void => listener(data);
    ipcRenderer.on(SERVER_CHECK_CHANNEL, wrap);
    return () => {
      ipcRenderer.removeListener(SERVER_CHECK_CHANNEL, wrap);
    };
  },
  initial: {
    role: role === "new" || role === "existing" ? (role as DeviceRole) : null,
    side: side === "show" || side === "scan" ? (side as ChannelSide) : null,
  },
};

contextBridge.exposeInMainWorld("qrLogin", api);
