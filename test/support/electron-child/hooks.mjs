// Module hooks for running the built Electron main (dist/main/index.js) in plain Node: `electron`
// resolves to the test's stand-in (QR_LOGIN_ELECTRON_STUB), and every package the app's own bundle
// imports is appended to QR_LOGIN_LOAD_REPORT, so a test can say what a start-up loads.
import { appendFileSync } from "node:fs";

export async function resolve(specifier, context, nextResolve) {
  const fromApp = typeof context.parentURL === "string" && /\/dist\/main\//.test(context.parentURL);
  if (fromApp && !/^(\.|\/|node:|file:)/.test(specifier)) appendFileSync(process.env.QR_LOGIN_LOAD_REPORT, `${specifier}\n`);
  if (specifier === "electron") return { url: process.env.QR_LOGIN_ELECTRON_STUB, shortCircuit: true };
  return nextResolve(specifier, context);
}
