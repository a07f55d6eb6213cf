// The rendezvous faults whole sign-ins are run through (test/integration/login-faults.test.ts and
// `npm run faults`), each a real rendezvous server (both APIs) with the fault between it and the clients:
//   restart    one server on a SQLite file, stopped and started again on its port in the middle of the
//              flow (at a flow event chosen per run), so requests meet refused and reset connections;
//   lossy      a proxy that loses a share of the answers after the server acted on them (seeded, so a
//              run can be replayed);
//   instances  two servers on one Redis behind a round-robin proxy (no stickiness);
//   nginx      nginx with gzip on for text/plain and JSON in front of the server, as operators run it.
// `url` is where sessions are created. A 2025 reciprocate QR names its base URL as the homeserver, so a
// new device that scans one needs that URL to serve the Client-Server API too: `homeserverUrl` routes
// the rendezvous paths through the fault and everything else to the development homeserver.
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { startRendezvousServer, type RunningRendezvousServer } from "../../server/rendezvous/index.js";
import type { DeviceRole as Role } from "../../contract/flow.js";
import type { FlowEvent } from "../../main/login/flows/ports.js";
import { startHookProxy, type HookProxy, type ProxiedRequest } from "./hook-proxy.js";
import { seededRandom, startLossyProxy, type LossyProxy } from "./lossy-proxy.js";
import { startNginx, type TestNginx } from "./nginx.js";
import { freePort, startRedis, type TestRedis } from "./redis-server.js";
import { startRoundRobinProxy, type RoundRobinProxy } from "./round-robin-proxy.js";

export type FaultKind = "restart" | "lossy" | "instances" | "nginx";
export const FAULT_KINDS: readonly FaultKind[] = ["restart", "lossy", "instances", "nginx"];

export interface ArmedFault {
  readonly onEvent: (role: Role, e: FlowEvent) => void;
  /** After the sign-in: whether the fault really met it (restarted, answers lost, both instances used, through nginx), and how. */
  done(): Promise<{ readonly hit: boolean; readonly note: string }>;
}

export interface FaultRig {
  readonly kind: FaultKind;
  /** Base URL of the rendezvous server as the clients reach it (through the fault). */
  readonly url: string;
  /** A homeserver base URL whose rendezvous paths go through the fault (the rest: the development homeserver). */
  readonly homeserverUrl: string;
  /**
   * Before each sign-in: returns the listener that injects this run's fault at its moment (restart), and
   * a function that says afterwards what the fault did.
   */
  arm(run: number): ArmedFault;
  close(): Promise<void>;
}

const RENDEZVOUS_PATH = /\/rendezvous(\/|$)/;
const isRendezvous = (req: ProxiedRequest): boolean => RENDEZVOUS_PATH.test(req.path);

/** Many sessions from one address in a row: no per-address caps, so only the fault is measured. */
const NO_CAPS = { createPerWindow: 0, maxSessionsPerIp: 0, requestsPerWindow: 0 };

function serverOn(port: number, store: string, publicBaseUrl: string): Promise<RunningRendezvousServer> {
  return startRendezvousServer({ host: "127.0.0.1", port, mode: "open", store, logLevel: false, publicBaseUrl: `${publicBaseUrl}/`, limits: NO_CAPS, redisPrefix: "qrl-fault-rig:" });
}

/** A plain router: the rendezvous paths to `front`, the rest to the homeserver. */
function router(front: string, homeserver: string): Promise<HookProxy> {
  return startHookProxy((req) => (isRendezvous(req) ? front : homeserver), {});
}

/**
 * Where in a sign-in the restart happens, by run (cycling): right after the check code is shown (the
 * next PUT meets the restart: the case of issue 17), while the new device waits for protocol_accepted
 * (both sides have requests in flight), while it asks the user to confirm the account (the existing
 * device is polling for m.login.success), and while the existing device waits for the new device.
 */
export const RESTART_MOMENTS: ReadonlyArray<{ readonly label: string; readonly at: (role: Role, e: FlowEvent) => boolean }> = [
  { label: "check code shown", at: (_role, e) => e.type === "check_code" },
  { label: "new device waiting_for_accept", at: (role, e) => role === "new" && e.type === "state" && e.state === "waiting_for_accept" },
  { label: "new device confirm_account", at: (role, e) => role === "new" && e.type === "state" && e.state === "confirm_account" },
  { label: "existing device waiting_for_device", at: (role, e) => role === "existing" && e.type === "state" && e.state === "waiting_for_device" },
];

/**
 * The moment of run `run`: cycling, and shifted by one every full cycle, so that a table whose rows take
 * turns (run = round × rows + row) gives every row every moment even when it has as many rows as moments.
 */
export function restartMoment(run: number): number {
  const n = RESTART_MOMENTS.length;
  return (run + Math.floor(run / n)) % n;
}

async function restartRig(homeserver: string): Promise<FaultRig> {
  const dir = mkdtempSync(path.join(os.tmpdir(), "qrl-restart-rig-"));
  const store = `sqlite:${path.join(dir, "rendezvous.sqlite")}`;
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  let server = await serverOn(port, store, url);
  const route = await router(url, homeserver);
  let restarting: Promise<void> | undefined;
  return {
    kind: "restart",
    url,
    homeserverUrl: route.url,
    arm(run) {
      restarting = undefined;
      const moment = RESTART_MOMENTS[restartMoment(run)]!;
      let note = `no restart (${moment.label} never came)`;
      let hit = false;
      return {
        onEvent(role, e) {
          if (restarting || !moment.at(role, e)) return;
          const t0 = performance.now();
          restarting = (async () => {
            await server.close();
            server = await serverOn(port, store, url);
            note = `restarted at ${moment.label} (down ${(performance.now() - t0).toFixed(0)} ms)`;
            hit = true;
          })();
        },
        async done() {
          await restarting;
          return { hit, note };
        },
      };
    },
    async close() {
      await restarting?.catch(() => undefined);
      await route.close();
      await server.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

async function lossyRig(homeserver: string, dropRate: number, seed: number): Promise<FaultRig> {
  const port = await freePort();
  const target = `http://127.0.0.1:${port}`;
  let random = seededRandom(seed);
  // One proxy is both: the rendezvous server's front and the homeserver's router; only rendezvous answers are lost.
  const proxy: LossyProxy = await startLossyProxy((req) => (isRendezvous(req) ? target : homeserver), dropRate, () => random(), { lossy: isRendezvous });
  const server = await serverOn(port, "memory", proxy.url);
  return {
    kind: "lossy",
    url: proxy.url,
    homeserverUrl: proxy.url,
    arm(run) {
      // Each run its own seed: a failing run is replayed by its number.
      random = seededRandom(seed + run);
      const before = { ...proxy.stats, droppedByMethod: { ...proxy.stats.droppedByMethod } };
      return {
        onEvent: () => undefined,
        done: async () => {
          const by = Object.entries(proxy.stats.droppedByMethod).map(([m, n]) => `${m} ${n - (before.droppedByMethod[m] ?? 0)}`).filter((x) => !x.endsWith(" 0"));
          const lost = proxy.stats.dropped - before.dropped;
          return { hit: lost > 0, note: `lost ${lost} of ${proxy.stats.forwarded - before.forwarded} answers (${by.join(", ") || "none"}), seed ${seed + run}` };
        },
      };
    },
    async close() {
      await proxy.close();
      await server.close();
    },
  };
}

async function instancesRig(homeserver: string): Promise<FaultRig> {
  const redis: TestRedis = await startRedis();
  const ports = [await freePort(), await freePort()];
  const balancer: RoundRobinProxy = await startRoundRobinProxy(ports.map((p) => `http://127.0.0.1:${p}`));
  const servers = [await serverOn(ports[0]!, redis.url, balancer.url), await serverOn(ports[1]!, redis.url, balancer.url)];
  const route = await router(balancer.url, homeserver);
  return {
    kind: "instances",
    url: balancer.url,
    homeserverUrl: route.url,
    arm() {
      const before = [...balancer.counts];
      return {
        onEvent: () => undefined,
        done: async () => {
          const counts = balancer.counts.map((c, i) => c - before[i]!);
          return { hit: counts.every((c) => c > 0), note: `requests per instance ${counts.join(" / ")}` };
        },
      };
    },
    async close() {
      await route.close();
      await balancer.close();
      for (const s of servers) await s.close();
      await redis.stop();
    },
  };
}

async function nginxRig(homeserver: string): Promise<FaultRig> {
  const port = await freePort();
  const nginx: TestNginx = await startNginx({ upstreams: [`127.0.0.1:${port}`], gzip: true });
  const server = await serverOn(port, "memory", nginx.url);
  const route = await router(nginx.url, homeserver);
  return {
    kind: "nginx",
    url: nginx.url,
    homeserverUrl: route.url,
    arm() {
      const before = nginx.accessLog().length;
      return {
        onEvent: () => undefined,
        done: async () => {
          const requests = nginx.accessLog().slice(before).split("\n").filter((l) => RENDEZVOUS_PATH.test(l)).length;
          return { hit: requests > 0, note: `${requests} rendezvous requests through nginx` };
        },
      };
    },
    async close() {
      await route.close();
      await nginx.stop();
      await server.close();
    },
  };
}

export interface RigOptions {
  /** lossy: the share of rendezvous answers lost (default 0.2) and the base seed (default 4108). */
  readonly dropRate?: number;
  readonly seed?: number;
}

export function startFaultRig(kind: FaultKind, homeserverUrl: string, o: RigOptions = {}): Promise<FaultRig> {
  const homeserver = homeserverUrl.replace(/\/+$/, "");
  switch (kind) {
    case "restart":
      return restartRig(homeserver);
    case "lossy":
      return lossyRig(homeserver, o.dropRate ?? 0.2, o.seed ?? 4108);
    case "instances":
      return instancesRig(homeserver);
    case "nginx":
      return nginxRig(homeserver);
  }
}
