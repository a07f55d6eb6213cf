// The verdict in a person's words: which clients can sign in with this deployment, and in which
// direction. Element's apps speak the 2024 version (Element X shows and scans QR codes, Element Web and
// Desktop show them); MSC4388 clients such as qr-login speak the 2025 one. In authenticated mode only a
// signed-in device may create a session, so the existing device shows the QR code and the new one scans.
// The last line says who may create sessions, as whether a new device can show a QR code.
import type { CheckId, CheckResult, VerdictLine } from "./types.js";

export type Creation = "open" | "authenticated" | "none";

export interface VerdictFacts {
  readonly results: ReadonlyMap<CheckId, CheckResult>;
  readonly advertises2024: boolean;
  /** Who may create 2024 sessions here; "none": the 2024 version is not usable. */
  readonly creation2024: Creation;
  readonly creation2025: Creation;
  /** The check that says why the homeserver could not be asked at all, if it could not. */
  readonly unreachable?: CheckId | undefined;
}

const COMMON: readonly CheckId[] = ["oauth.metadata", "oauth.device-grant", "tls"];
const CORE_2024: readonly CheckId[] = ["rendezvous-2024.create", "rendezvous-2024.consistent", "rendezvous-2024.etag", "rendezvous-2024.conditional", "rendezvous-2024.content-type", "rendezvous.body-size", "clock"];
const CORE_2025: readonly CheckId[] = ["rendezvous-2025.create", "rendezvous-2025.consistent", "rendezvous-2025.sequence", "rendezvous.body-size"];

function failing(facts: VerdictFacts, ids: readonly CheckId[]): CheckId[] {
  return ids.filter((id) => facts.results.get(id)?.status === "fail");
}

const because = (ids: readonly CheckId[]) => `see ${ids.join(", ")}`;

export function verdict(facts: VerdictFacts): VerdictLine[] {
  if (facts.unreachable) {
    const summary = `cannot sign in here from this computer: the homeserver could not be asked (see ${facts.unreachable})`;
    return [
      { clients: "Element X and Element Web (2024 version)", status: "fail", summary },
      { clients: "MSC4388 clients such as qr-login (2025 version)", status: "fail", summary },
    ];
  }
  const lines: VerdictLine[] = [];

  // Element X and Element Web: the 2024 version, found through /versions.
  const element = "Element X and Element Web (2024 version)";
  const broken2024 = failing(facts, [...COMMON, ...CORE_2024, "discovery.versions"]);
  if (!facts.advertises2024) {
    lines.push({ clients: element, status: "fail", summary: `cannot sign in with a QR code: /versions does not list org.matrix.msc4108, so they say "QR code not supported"` });
  } else if (facts.creation2024 === "none" || broken2024.length) {
    lines.push({ clients: element, status: "fail", summary: `cannot sign in with a QR code (${because(broken2024.length ? broken2024 : ["rendezvous-2024.create"])})` });
  } else {
    const web = failing(facts, ["rendezvous-2024.cors"]);
    const both = facts.creation2024 === "open";
    const directions = both
      ? "in both directions: Element X shows or scans the QR code, Element Web and Desktop show it on the new or the existing device"
      : "only with the signed-in device showing the QR code (sessions need a signed-in device here)";
    if (web.length) {
      lines.push({ clients: element, status: "warn", summary: `Element X can sign in ${directions.replace(", Element Web and Desktop show it on the new or the existing device", "")}; Element Web and Desktop cannot (${because(web)})` });
    } else {
      lines.push({ clients: element, status: both ? "pass" : "warn", summary: `can sign in ${directions}` });
    }
  }

  // MSC4388 clients: the 2025 version, found through its own discovery.
  const msc4388 = "MSC4388 clients such as qr-login (2025 version)";
  const broken2025 = failing(facts, [...COMMON, ...CORE_2025]);
  if (facts.creation2025 === "none" && facts.results.get("rendezvous-2025.create")?.status !== "pass") {
    lines.push({ clients: msc4388, status: "fail", summary: broken2025.length ? `cannot sign in with a QR code (${because(broken2025)})` : "cannot sign in with a QR code: the 2025 version is not served here" });
  } else if (broken2025.length) {
    lines.push({ clients: msc4388, status: "fail", summary: `cannot sign in with a QR code (${because(broken2025)})` });
  } else if (facts.creation2025 === "open") {
    lines.push({ clients: msc4388, status: "pass", summary: "can sign in in both directions: the new device shows the QR code or scans the existing device's" });
  } else {
    lines.push({ clients: msc4388, status: "warn", summary: "can sign in with the signed-in device showing the QR code and the new device scanning it; a new device cannot show one (authenticated mode)" });
  }

  // Who may create a session: in authenticated mode only signed-in devices, so a new device cannot show a QR code.
  const who = (c: Creation) => (c === "open" ? "anyone" : c === "authenticated" ? "signed-in devices only (authenticated mode)" : "nobody");
  const creations = [facts.creation2024, facts.creation2025].filter((c) => c !== "none");
  const who2 = `2024 version: ${who(facts.creation2024)}; 2025 version: ${who(facts.creation2025)}`;
  const newDevice = "A new device showing the QR code";
  if (creations.length === 0) lines.push({ clients: newDevice, status: "fail", summary: `cannot: nobody can create a rendezvous session here (${who2})` });
  else if (creations.every((c) => c === "open")) lines.push({ clients: newDevice, status: "pass", summary: `can: anyone may create a rendezvous session (${who2})` });
  else if (creations.includes("open")) lines.push({ clients: newDevice, status: "warn", summary: `only where anyone may create a rendezvous session (${who2}); elsewhere the new device scans a QR code shown by a signed-in device` });
  else lines.push({ clients: newDevice, status: "warn", summary: `cannot: only signed-in devices may create a rendezvous session (${who2}); the new device scans a QR code shown by a signed-in device instead` });
  return lines;
}
