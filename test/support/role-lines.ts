// What the CLI sign-in roles print on stderr, read back as the flow events they report: every state
// change (`… waiting for accept`, main/cli/role-io.ts describeEvent) and the check code. The fault rigs
// arm on flow events (test/support/fault-rigs.ts); a role in a child process gives none, so
// `npm run faults -- --processes` (test/support/sign-in-processes.ts) recovers them from its lines.
import type { FlowEvent, FlowStage } from "../../main/login/flows/ports.js";

export const STAGES = [
  "prechecks", "creating_qr", "showing_qr", "scanning", "connecting", "check_code_entry", "showing_check_code", "waiting_for_protocols",
  "oauth_discovery", "device_authorization", "waiting_for_protocol", "checking_device", "opening_browser", "waiting_for_accept",
  "waiting_for_consent", "confirm_account", "waiting_for_outcome", "waiting_for_device", "transferring_secrets", "waiting_for_secrets",
  "importing", "done",
] as const satisfies readonly FlowStage[];
// A stage added to FlowStage but not here fails the type check (its line would go unrecognised).
const everyStage: [Exclude<FlowStage, (typeof STAGES)[number]>] extends [never] ? true : false = true;
void everyStage;

/** The flow event a role's stderr line reports, where it is one a fault rig can arm on. */
export function eventOfLine(line: string): FlowEvent | undefined {
  const code = /^check code: (\d\d)\b/.exec(line);
  if (code) return { type: "check_code", code: code[1]! };
  const words = /^… ([a-z ]+)$/.exec(line)?.[1];
  const stage = STAGES.find((s) => s === words?.replace(/ /g, "_"));
  return stage ? { type: "state", state: stage } : undefined;
}
