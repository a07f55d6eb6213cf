// The `electron` module for a child process running dist/main/index.js (bundled by the test with
// esbuild): the stand-in of ../electron-fake.ts, made ready at once; when the app's windows have
// loaded their page it writes "ready" to the load report and ends the process.
import { appendFileSync } from "node:fs";
import { createElectronFake } from "../electron-fake.js";

const fake = createElectronFake({ keyring: "gnome_libsecret", ...(process.env.QR_LOGIN_USERDATA ? { userData: process.env.QR_LOGIN_USERDATA } : {}) });
export const { app, BrowserWindow, webContents, session, protocol, net, shell, dialog, desktopCapturer, systemPreferences, safeStorage, ipcMain } = fake.module;

setTimeout(() => fake.ready(), 0);
const timer = setInterval(() => {
  if (fake.app.exited) {
    appendFileSync(process.env.QR_LOGIN_LOAD_REPORT!, `exited ${fake.app.exited.code}\n`);
    process.exit(fake.app.exited.code);
  }
  const windows = fake.BrowserWindow.getAllWindows();
  if (windows.length > 0 && windows.every((w) => w.webContents.getURL() !== "")) {
    clearInterval(timer);
    appendFileSync(process.env.QR_LOGIN_LOAD_REPORT!, `ready ${windows.length}\n`);
    process.exit(0);
  }
}, 20);
