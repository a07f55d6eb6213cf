// Which version a generator speaks (`--protocol auto`, main/login/channel/version.ts selectVersion), against
// real servers offering 2025 only, 2024 only, both or neither: 2025 wherever discovery says
// create_available, else 2024 where /versions lists org.matrix.msc4108, else 2024 on a configured
// fallback rendezvous server, else "your homeserver doesn't support sign in with QR". Each chosen
// QR is checked by its bytes, and a forced version is honoured.
import { afterAll, beforeAll, describe, expect, test } from "@jest/globals";
import { createSecureChannelPort } from "../../main/login/channel/port.js";
import { ChannelError, type GeneratedChannel, type ProtocolChoice, type ProtocolVersion } from "../../main/login/flows/ports.js";
import { decodeAnyQr } from "../../main/protocol-2024/qr.js";
import { startDevhome, type RunningDevhome } from "../../server/devhome/index.js";
import { startRendezvousServer, type RendezvousApi, type RunningRendezvousServer } from "../../server/rendezvous/index.js";

const homes: Partial<Record<"both" | "only2025" | "only2024" | "none", RunningDevhome>> = {};
let fallback: RunningRendezvousServer;

beforeAll(async () => {
  const apis: Record<string, readonly RendezvousApi[] | "off"> = { both: ["2025", "2024"], only2025: ["2025"], only2024: ["2024"], none: "off" };
  for (const [name, a] of Object.entries(apis)) {
    homes[name as keyof typeof homes] = await startDevhome({ port: 0, ...(a === "off" ? { rendezvousMode: "off" } : { rendezvousApis: a }) });
  }
  fallback = await startRendezvousServer({ host: "127.0.0.1", port: 0, mode: "open", store: "memory", apis: ["2024"], logLevel: false });
}, 60_000);

afterAll(async () => {
  await fallback?.close();
  for (const h of Object.values(homes)) await h?.close();
});

async function generate(home: keyof typeof homes, protocol: ProtocolChoice, opts: { fallback?: boolean; intent?: "login" | "reciprocate" } = {}): Promise<GeneratedChannel> {
  return createSecureChannelPort().startGenerator({
    rendezvousUrl: homes[home]!.baseUrl,
    ...(opts.fallback ? { fallbackRendezvousUrl: fallback.url } : {}),
    intent: opts.intent ?? "login",
    protocol,
    serverName: "localhost",
  });
}

describe("--protocol auto", () => {
  test.each<[keyof typeof homes, ProtocolVersion]>([["both", "2025"], ["only2025", "2025"], ["only2024", "2024"]])("a homeserver offering %s → %s", async (home, version) => {
    const g = await generate(home, "auto");
    expect(g.version).toBe(version);
    expect(decodeAnyQr(g.qr).version).toBe(version);
    await g.close();
  });

  test("neither: not supported, naming what is missing", async () => {
    const err = await generate("none", "auto").catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ChannelError);
    expect((err as ChannelError).kind).toBe("rendezvous_unavailable");
    expect((err as ChannelError).message).toMatch(/doesn't support sign in with QR/);
    expect((err as ChannelError).message).toMatch(/org\.matrix\.msc4108/);
  });

  test("neither, with a fallback rendezvous server: 2024 there (the existing device's reciprocate QR names its server)", async () => {
    const g = await generate("none", "auto", { fallback: true, intent: "reciprocate" });
    expect(g.version).toBe("2024");
    const qr = decodeAnyQr(g.qr);
    expect(qr.version === "2024" && qr.qr).toMatchObject({ intent: "reciprocate", serverName: "localhost" });
    expect(qr.version === "2024" && new URL(qr.qr.rendezvousUrl).origin).toBe(new URL(fallback.url).origin);
    await g.close();
  });
});

describe("a forced version", () => {
  test("2024 on a homeserver offering both: 2024", async () => {
    const g = await generate("both", "2024");
    expect(decodeAnyQr(g.qr).version).toBe("2024");
    await g.close();
  });

  test("2024 on a homeserver without it, with a fallback: the fallback", async () => {
    const g = await generate("only2025", "2024", { fallback: true });
    const qr = decodeAnyQr(g.qr);
    expect(qr.version === "2024" && new URL(qr.qr.rendezvousUrl).origin).toBe(new URL(fallback.url).origin);
    await g.close();
  });

  test("2025 on a homeserver offering only 2024: not supported", async () => {
    const err = await generate("only2024", "2025").catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ChannelError);
    expect((err as ChannelError).kind).toBe("rendezvous_unavailable");
  });
});
