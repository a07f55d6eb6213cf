// Test harness for the development homeserver's Client-Server API alone: the real plugin on a fastify,
// listening (for real clients) or not (for `app.inject()`), with a token table standing in for the
// OAuth half (which has its own tests).
import { randomBytes } from "node:crypto";
import Fastify from "fastify";
import type { FastifyInstance } from "fastify";
import { createCsApi } from "../../server/devhome/cs/index.js";
import type { CsApi } from "../../server/devhome/cs/index.js";
import { openDevhomeDb } from "../../server/devhome/storage.js";
import type { DevhomeDb } from "../../server/devhome/storage.js";
import type { DevhomeAuth, TokenInfo } from "../../server/devhome/types.js";

export const API_SCOPE = "urn:matrix:client:api:*";
export const deviceScope = (deviceId: string): string => `urn:matrix:client:device:${deviceId}`;

/** The harness without a socket: requests go through `app.inject()`. */
export interface CsApp {
  app: FastifyInstance;
  db: DevhomeDb;
  cs: CsApi;
  auth: DevhomeAuth & { issueWithScopes(userId: string, deviceId: string, scopes: string[]): string; revoked: string[] };
  close(): Promise<void>;
}

export interface CsHarness extends CsApp {
  baseUrl: string;
}

export interface LoggedRequest {
  method: string;
  url: string;
  authorization: string | undefined;
  body: unknown;
  status?: number;
}

type HarnessOptions = { serverName?: string; log?: LoggedRequest[] };

/** The harness listening on 127.0.0.1. */
export async function startCsHarness(opts: HarnessOptions = {}): Promise<CsHarness> {
  const harness = await buildCsHarness(opts);
  await harness.app.listen({ host: "127.0.0.1", port: 0 });
  const addr = harness.app.server.address();
  const port = typeof addr === "object" && addr ? addr.port : 0;
  return { ...harness, baseUrl: `http://127.0.0.1:${port}` };
}

/** `log` receives every CS request (after body parsing) with its response status. */
export async function buildCsHarness(opts: HarnessOptions = {}): Promise<CsApp> {
  const serverName = opts.serverName ?? "localhost";
  const db = openDevhomeDb();
  const tokens = new Map<string, TokenInfo>();
  const revoked: string[] = [];
  const issueWithScopes = (userId: string, deviceId: string, scopes: string[]): string => {
    const token = `tok_${randomBytes(16).toString("hex")}`;
    tokens.set(token, { userId, deviceId, scopes });
    return token;
  };
  const auth: CsHarness["auth"] = {
    revoked,
    issueWithScopes,
    async verifyAccessToken(token) {
      return tokens.get(token) ?? null;
    },
    async issueDeviceToken({ userId, deviceId, clientName }) {
      const access_token = issueWithScopes(userId, deviceId, [API_SCOPE, deviceScope(deviceId)]);
      await cs.devices.ensureDevice(userId, deviceId, clientName);
      return { access_token };
    },
    async revokeDeviceTokens(userId, deviceId) {
      revoked.push(`${userId}|${deviceId}`);
      for (const [t, info] of tokens) if (info.userId === userId && info.deviceId === deviceId) tokens.delete(t);
    },
  };
  const cs = createCsApi({ db, serverName, auth });
  const app = Fastify({ logger: false, routerOptions: { maxParamLength: 1024 } });
  const log = opts.log;
  if (log) {
    const entries = new WeakMap<object, LoggedRequest>();
    app.addHook("preHandler", async (req) => {
      const e: LoggedRequest = { method: req.method, url: req.url, authorization: req.headers.authorization, body: req.body };
      entries.set(req, e);
      log.push(e);
    });
    app.addHook("onResponse", async (req, reply) => {
      const e = entries.get(req) ?? { method: req.method, url: req.url, authorization: req.headers.authorization, body: undefined };
      if (!entries.has(req)) log.push(e);
      e.status = reply.statusCode;
    });
  }
  await app.register(cs.plugin);
  await app.ready();
  return {
    app,
    db,
    cs,
    auth,
    async close() {
      await app.close();
      db.close();
    },
  };
}
