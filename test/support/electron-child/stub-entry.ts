// The `electron` module for a child process running dist/main/index.js (bundled by the test with
// esbuild): the stand-in of ../electron-fake.ts, made ready at once. When the app's windows have
// loaded their page it writes to the load report what each window got — its command-line arguments
// and, over IPC, its app info — then "ready N", and ends the process.
import { appendFileSync } from "node:fs";
import { createElectronFake } from "../electron-fake.js";

const fake = createElectronFake({ keyring: "gnome_libsecret", ...(process.env.QR_LOGIN_USERDATA ? { userData: process.env.QR_LOGIN_USERDATA } : {}) });
export const { app, BrowserWindow, webContents, session, protocol, net, shell, dialog, desktopCapturer, systemPreferences, safeStorage, ipcMain, screen } = fake.module;

setTimeout(() => fake.ready(), 0);
const timer = setInterval(() => {
  if (fake.app.exited) {
    appendFileSync(process.env.QR_LOGIN_LOAD_REPORT!, `exited ${fake.app.exited.code}\n`);
    process.exit(fake.app.exited.code);
  }
  const windows = fake.BrowserWindow.getAllWindows();
  if (windows.length > 0 && windows.every((w) => w.webContents.getURL() !== "")) {
    clearInterval(timer);
    void Promise.all(
      windows.map(async (w) => {
        const info = await fake.page.invoke(w.webContents, "qr-login:get-app-info");
        appendFileSync(process.env.QR_LOGIN_LOAD_REPORT!, `window ${JSON.stringify({ args: w.opts.webPreferences.additionalArguments, title: w.getTitle(), info })}\n`);
      }),
    ).finally(() => {
      appendFileSync(process.env.QR_LOGIN_LOAD_REPORT!, `ready ${windows.length}\n`);
      process.exit(0);
    });
  }
}, 20);
