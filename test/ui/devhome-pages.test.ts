// The development homeserver's sign-in pages in a real browser (Debian Chromium via playwright-core):
// a device grant approved by clicking through the pages as a user would (pre-filled code → consent →
// password → done), and axe-core on every page (no serious or critical violations), keyboard only.
import { afterAll, beforeAll, expect, test } from "@jest/globals";
import { readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";
import type { Browser, Page } from "playwright-core";
import { CHROMIUM } from "../support/system-programs.js";
import { startDevhome } from "../../server/devhome/index.js";
import type { RunningDevhome } from "../../server/devhome/index.js";
import * as oauth from "../../main/login/oauth/client.js";
import { DEVICE_CODE_GRANT, matrixScopes } from "../../contract/oauth.js";
import { pollDeviceToken } from "../../main/login/oauth/poll.js";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const AXE = readFileSync(path.join(root, "node_modules/axe-core/axe.min.js"), "utf8");

let dh: RunningDevhome;
let browser: Browser;

beforeAll(async () => {
  dh = await startDevhome({ port: 0, seed: true, deviceInterval: 1 });
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--headless", "--no-sandbox", "--disable-gpu"] });
});
afterAll(async () => {
  await browser?.close();
  await dh?.close();
});

async function axe(page: Page): Promise<string[]> {
  await page.evaluate(AXE);
  const violations = (await page.evaluate(
    "axe.run(document, { resultTypes: ['violations'] }).then((r) => r.violations.map((v) => ({ id: v.id, impact: v.impact })))",
  )) as Array<{ id: string; impact: string }>;
  return violations.filter((v) => v.impact === "serious" || v.impact === "critical").map((v) => `${v.id}:${v.impact}`);
}

test("device grant approved in Chromium with the keyboard; every page passes axe", async () => {
  const md = await oauth.discoverAuthMetadata(dh.baseUrl);
  const { client_id: clientId } = await oauth.registerClient(md, {
    client_name: "Living-room TV", client_uri: "https://example.org/", application_type: "native",
    grant_types: [DEVICE_CODE_GRANT, "refresh_token"],
  });
  const deviceId = oauth.generateDeviceId();
  const grant = await oauth.requestDeviceAuthorization(md, clientId, matrixScopes(deviceId));
  const polled = pollDeviceToken(md, clientId, grant);

  const context = await browser.newContext();
  const page = await context.newPage();
  const findings: Record<string, string[]> = {};

  await page.goto(grant.verification_uri_complete!);
  expect(await page.inputValue("#user_code")).toBe(grant.user_code);
  findings.entry = await axe(page);
  // The pre-filled page focuses Continue: Enter submits.
  await page.keyboard.press("Enter");
  await page.waitForSelector("text=Sign in another device?");
  const text = await page.textContent("main");
  expect(text).toContain("another device");
  expect(text).toContain("Living-room TV");
  expect(text).toContain(deviceId);
  expect(text).toContain(grant.user_code);
  findings.consent = await axe(page);
  await page.getByRole("button", { name: "Approve" }).click();

  await page.waitForSelector("#password");
  findings.login = await axe(page);
  await page.getByLabel("Username").fill("alice");
  await page.getByLabel("Password").fill(dh.demo!.password);
  await page.keyboard.press("Enter");
  await page.waitForSelector("text=Device approved");
  findings.done = await axe(page);
  await context.close();

  const outcome = await polled;
  expect(outcome.kind).toBe("tokens");
  if (outcome.kind === "tokens") expect(await dh.auth.verifyAccessToken(outcome.tokens.access_token)).toEqual(expect.objectContaining({ deviceId }));
  expect(findings).toEqual({ entry: [], consent: [], login: [], done: [] });
});

test("error states are announced and pass axe: wrong code, wrong password; the home page too", async () => {
  const context = await browser.newContext();
  const page = await context.newPage();
  await page.goto(dh.baseUrl);
  expect(await page.textContent("main")).toContain(`${dh.baseUrl}_matrix/client/v1/auth_metadata`);
  const home = await axe(page);
  await page.goto(`${dh.baseUrl}oauth2/device`);
  await page.getByLabel("Code").fill("ZZZZ-ZZZZ");
  await page.keyboard.press("Enter");
  await page.waitForSelector("[role=alert]");
  expect(await page.getAttribute("#user_code", "aria-invalid")).toBe("true");
  const wrongCode = await axe(page);

  await page.goto(`${dh.baseUrl}account?action=org.matrix.cross_signing_reset`);
  await page.getByLabel("Username").fill("alice");
  await page.getByLabel("Password").fill("not-it-at-all");
  await page.keyboard.press("Enter");
  await page.waitForSelector("[role=alert]");
  const wrongPassword = await axe(page);
  await context.close();
  expect({ home, wrongCode, wrongPassword }).toEqual({ home: [], wrongCode: [], wrongPassword: [] });
});
