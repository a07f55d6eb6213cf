// The layer rule of eslint.config.js (docs/architecture.md "Layers"): an upward import fails lint.
// Each case lints a one-line probe as if it were a file in that folder.
import { describe, expect, test } from "@jest/globals";
import { ESLint } from "eslint";
import path from "node:path";
import { REPO_ROOT } from "../support/fixtures.js";

const eslint = new ESLint({ cwd: REPO_ROOT });

async function restricted(file: string, code: string): Promise<string[]> {
  const [result] = await eslint.lintText(code, { filePath: path.join(REPO_ROOT, file) });
  return (result?.messages ?? []).filter((m) => m.ruleId === "@typescript-eslint/no-restricted-imports").map((m) => m.message);
}

describe("layer imports", () => {
  test.each([
    ["contract/x.ts", 'import { a } from "../main/login/flows/ports.js"; export const b = a;'],
    ["contract/x.ts", 'import { a } from "../preload/index.js"; export const b = a;'],
    ["contract/x.ts", 'import { a } from "electron"; export const b = a;'],
    ["contract/x.ts", 'import { a } from "node:fs"; export const b = a;'],
    ["contract/x.ts", 'import { a } from "zod"; export const b = a;'],
    ["main/protocol/x.ts", 'import { a } from "../login/flows/ports.js"; export const b = a;'],
    ["main/protocol/x.ts", 'import { a } from "../../contract/ipc.js"; export const b = a;'],
    ["main/protocol/x.ts", 'import { a } from "../../renderer/copy.js"; export const b = a;'],
    ["main/protocol/x.ts", 'import { a } from "matrix-js-sdk"; export const b = a;'],
    ["main/protocol-2024/x.ts", 'import { a } from "../login/flows/ports.js"; export const b = a;'],
    ["main/login/x.ts", 'import { a } from "./flows/ports.js"; export const b = a;'],
    ["main/login/x.ts", 'import { a } from "../app/flow-controller.js"; export const b = a;'],
    ["main/login/flows/x.ts", 'import { a } from "../../app/flow-controller.js"; export const b = a;'],
    ["main/login/flows/x.ts", 'import { a } from "../../cli/args.js"; export const b = a;'],
    ["main/login/flows/x.ts", 'import { a } from "electron"; export const b = a;'],
    ["main/login/flows/x.ts", 'import { a } from "../../doctor/index.js"; export const b = a;'],
    // The flows see their ports, never an adapter, an SDK or the transport.
    ["main/login/flows/x.ts", 'import { a } from "../channel/port.js"; export const b = a;'],
    ["main/login/flows/x.ts", 'import { a } from "../oauth/client.js"; export const b = a;'],
    ["main/login/flows/x.ts", 'import { a } from "../matrix/client.js"; export const b = a;'],
    ["main/login/flows/x.ts", 'import { a } from "matrix-js-sdk"; export const b = a;'],
    ["main/login/flows/x.ts", 'import { a } from "../../protocol/rendezvous.js"; export const b = a;'],
    ["main/login/flows/x.ts", 'import { a } from "../../../server/devhome/index.js"; export const b = a;'],
    ["main/login/channel/x.ts", 'import { a } from "../matrix/client.js"; export const b = a;'],
    ["main/login/channel/x.ts", 'import { a } from "../../cli/args.js"; export const b = a;'],
    ["main/login/oauth/x.ts", 'import { a } from "matrix-js-sdk"; export const b = a;'],
    ["main/login/oauth/x.ts", 'import { a } from "../matrix/client.js"; export const b = a;'],
    ["main/login/oauth/x.ts", 'import { a } from "../../protocol-2024/transport.js"; export const b = a;'],
    ["main/login/matrix/x.ts", 'import { a } from "../oauth/client.js"; export const b = a;'],
    ["main/login/matrix/x.ts", 'import { a } from "../channel/port.js"; export const b = a;'],
    ["main/login/matrix/x.ts", 'import { a } from "../account/account-session.js"; export const b = a;'],
    ["main/login/account/x.ts", 'import { a } from "../channel/port.js"; export const b = a;'],
    ["main/login/account/x.ts", 'import { a } from "../../app/account.js"; export const b = a;'],
    ["main/login/account/x.ts", 'import { a } from "electron"; export const b = a;'],
    ["main/doctor/x.ts", 'import { a } from "../app/ipc.js"; export const b = a;'],
    ["main/doctor/x.ts", 'import { a } from "../cli/args.js"; export const b = a;'],
    ["main/doctor/x.ts", 'import { a } from "../protocol-2024/transport.js"; export const b = a;'],
    ["main/doctor/x.ts", 'import { a } from "../../server/rendezvous/plugin.js"; export const b = a;'],
    ["main/doctor/x.ts", 'import { a } from "electron"; export const b = a;'],
    // Of main/login, the doctor loads only what brings no matrix-js-sdk.
    ["main/doctor/x.ts", 'import { a } from "../login/matrix/client.js"; export const b = a;'],
    ["main/doctor/x.ts", 'import { a } from "../login/channel/port.js"; export const b = a;'],
    ["main/devstack/x.ts", 'import { a } from "../app/index.js"; export const b = a;'],
    ["main/cli/x.ts", 'import { a } from "../app/ipc.js"; export const b = a;'],
    ["main/conformance/x.ts", 'import { a } from "../../server/rendezvous/index.js"; export const b = a;'],
    ["main/conformance/x.ts", 'import { a } from "../cli/args.js"; export const b = a;'],
    ["main/app/x.ts", 'import { a } from "../../server/devhome/index.js"; export const b = a;'],
    ["main/app/x.ts", 'import { a } from "../../preload/index.js"; export const b = a;'],
    ["server/rendezvous/x.ts", 'import { a } from "../../main/login/flows/ports.js"; export const b = a;'],
    ["renderer/x.ts", 'import { a } from "../main/login/flows/ports.js"; export const b = a;'],
    ["renderer/x.ts", 'import { a } from "../preload/index.js"; export const b = a;'],
    // The IPC table's schemas (valibot) stay out of the renderer bundle: types only.
    ["renderer/x.ts", 'import { REQUESTS } from "../contract/ipc.js"; export const b = REQUESTS;'],
    ["renderer/x.ts", 'import { FlowError } from "../contract/schemas.js"; export const b = FlowError;'],
    ["renderer/screens/x.ts", 'import { a } from "../../main/login/flows/ports.js"; export const b = a;'],
    ["renderer/screens/x.ts", 'import { REQUESTS } from "../../contract/ipc.js"; export const b = REQUESTS;'],
    ["preload/x.ts", 'import { a } from "../main/app/ipc.js"; export const b = a;'],
  ])("%s: %s is refused", async (file, code) => {
    expect(await restricted(file, code)).toHaveLength(1);
  });

  test.each([
    ["contract/x.ts", 'import { a } from "./failures.js"; export const b = a;'],
    ["contract/x.ts", 'import * as v from "valibot"; export const b = v;'],
    ["main/protocol/x.ts", 'import { a } from "./qr.js"; export const b = a;'],
    ["main/protocol/x.ts", 'import { a } from "../../contract/failures.js"; export const b = a;'],
    ["main/protocol-2024/x.ts", 'import { a } from "../../contract/failures.js"; export const b = a;'],
    ["main/login/flows/x.ts", 'import { a } from "../../../contract/failures.js"; export const b = a;'],
    ["main/login/flows/x.ts", 'import { a } from "./ports.js"; export const b = a;'],
    ["main/login/flows/x.ts", 'import { a } from "../url-policy.js"; export const b = a;'],
    ["main/login/flows/x.ts", 'import { a } from "../../protocol-2024/qr.js"; export const b = a;'],
    ["main/login/channel/x.ts", 'import { a } from "../flows/ports.js"; export const b = a;'],
    ["main/login/channel/x.ts", 'import { a } from "../../protocol/secure-session.js"; export const b = a;'],
    ["main/login/channel/x.ts", 'import { a } from "../../protocol-2024/secure-session.js"; export const b = a;'],
    ["main/login/oauth/x.ts", 'import { a } from "../flows/ports.js"; export const b = a;'],
    ["main/login/oauth/x.ts", 'import { a } from "../url-policy.js"; export const b = a;'],
    ["main/login/oauth/x.ts", 'import { a } from "../../../contract/oauth.js"; export const b = a;'],
    ["main/login/matrix/x.ts", 'import { a } from "../flows/messages.js"; export const b = a;'],
    ["main/login/matrix/x.ts", 'import { a } from "matrix-js-sdk"; export const b = a;'],
    ["main/login/account/x.ts", 'import { a } from "../oauth/client.js"; export const b = a;'],
    ["main/login/account/x.ts", 'import { a } from "../matrix/client.js"; export const b = a;'],
    ["server/devhome/oauth/x.ts", 'import { a } from "../../../contract/oauth.js"; export const b = a;'],
    ["main/cli/x.ts", 'import { a } from "../../contract/failures.js"; export const b = a;'],
    ["main/app/x.ts", 'import { a } from "../../contract/ipc.js"; export const b = a;'],
    ["preload/x.ts", 'import { a } from "../contract/ipc.js"; export const b = a;'],
    ["main/protocol-2024/x.ts", 'import { a } from "../protocol/qr.js"; export const b = a;'],
    ["main/login/channel/x.ts", 'import { a } from "../../protocol/qr.js"; export const b = a;'],
    ["main/app/x.ts", 'import { a } from "../devstack/stack.js"; export const b = a;'],
    ["main/app/x.ts", 'import { a } from "../doctor/index.js"; export const b = a;'],
    ["main/cli/x.ts", 'import { a } from "../doctor/index.js"; export const b = a;'],
    ["main/doctor/x.ts", 'import { a } from "../protocol/rendezvous.js"; export const b = a;'],
    ["main/doctor/x.ts", 'import { a } from "../login/matrix/homeserver.js"; export const b = a;'],
    ["main/doctor/x.ts", 'import { a } from "../login/oauth/client.js"; export const b = a;'],
    ["main/doctor/x.ts", 'import { a } from "../../server/rendezvous/protocol.js"; export const b = a;'],
    ["main/cli/x.ts", 'import { a } from "../../server/rendezvous/standalone.js"; export const b = a;'],
    ["main/cli/x.ts", 'import { a } from "../conformance/index.js"; export const b = a;'],
    ["main/conformance/x.ts", 'import { a } from "../protocol/profile.js"; export const b = a;'],
    ["server/rendezvous/x.ts", 'import { a } from "../../main/protocol/profile.js"; export const b = a;'],
    ["server/rendezvous/x.ts", 'import type { A } from "../../main/login/flows/ports.js"; export type B = A;'],
    ["renderer/x.ts", 'import { a } from "../contract/flow.js"; export const b = a;'],
    ["renderer/x.ts", 'import type { QrLoginApi } from "../contract/ipc.js"; export type B = QrLoginApi;'],
    ["renderer/screens/x.ts", 'import { a } from "../copy.js"; export const b = a;'],
    ["renderer/screens/x.ts", 'import { a } from "../../contract/flow.js"; export const b = a;'],
  ])("%s: %s is allowed", async (file, code) => {
    expect(await restricted(file, code)).toEqual([]);
  });
});
