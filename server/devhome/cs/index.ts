// The development homeserver's Client-Server API: exactly the endpoints the sign-in-with-QR flow and a
// starting matrix-js-sdk client use, strict about tokens and key signatures, and
// answering every failure with a Matrix error body (never a 500 for bad input).
//
// Usage (server/devhome/index.ts):
//   const cs = createCsApi({ db, serverName, auth });
//   await app.register(cs.plugin);            // mounts under /_matrix/client
//   deviceRegistry = cs.devices;              // the OAuth side calls ensureDevice when it issues a device token
//   cs.allowCrossSigningReset(userId);         // what MAS's "reset identity" approval does
import { EventEmitter } from "node:events";
import cors from "@fastify/cors";
import type { FastifyError, FastifyInstance, FastifyPluginAsync, FastifyReply } from "fastify";
import { SCOPE_PREFIXES } from "../../../contract/oauth.js";
import { bearerToken } from "../../rendezvous/http-common.js";
import type { DevhomeDb } from "../storage.js";
import type { DevhomeAuth, DeviceRegistry } from "../types.js";
import { accountRoutes } from "./account.js";
import { backupRoutes } from "./backup.js";
import type { CsContext } from "./context.js";
import { setCaller } from "./context.js";
import { MatrixError, notJson, unrecognized } from "./errors.js";
import { keyRoutes, RESET_APPROVAL_MS } from "./keys.js";
import { CsStore } from "./store.js";
import { syncRoutes } from "./sync.js";

export { MatrixError } from "./errors.js";
export { canonicalJson, verifySignature } from "./json.js";

export const CS_PREFIX = "/_matrix/client";
/** Largest JSON body accepted (Synapse's default limit for non-media requests is of this order). */
export const CS_BODY_LIMIT = 256 * 1024;

/** Spec versions advertised. v1.15 makes matrix-js-sdk use the stable auth_metadata path. */
export const SPEC_VERSIONS = ["v1.1", "v1.2", "v1.3", "v1.4", "v1.5", "v1.6", "v1.7", "v1.8", "v1.9", "v1.10", "v1.11", "v1.12", "v1.13", "v1.14", "v1.15"];

/** Stable and unstable scopes that grant the Client-Server API (MSC2967). */
const API_SCOPES = new Set(Object.values(SCOPE_PREFIXES).map((prefix) => `${prefix}api:*`));

export interface CsApiOptions {
  db: DevhomeDb;
  serverName: string;
  auth: DevhomeAuth;
  /** Where a user approves replacing their cross-signing identity (shown in the UIA 401). */
  crossSigningResetUrl?: string;
  /** Extra `unstable_features` for /versions (e.g. the rendezvous MSC's flag). */
  unstableFeatures?: Record<string, boolean>;
  now?: () => number;
}

export interface CsApi {
  /** Registers the routes under /_matrix/client in its own encapsulated scope. */
  plugin: FastifyPluginAsync;
  /** The OAuth half calls ensureDevice when it issues a token for a device scope. */
  devices: DeviceRegistry;
  /** Lets the user's next keys/device_signing/upload replace the existing identity (for RESET_APPROVAL_MS). */
  allowCrossSigningReset(userId: string): void;
  readonly store: CsStore;
}

export function createCsApi(opts: CsApiOptions): CsApi {
  const store = new CsStore(opts.db);
  const ctx: CsContext = {
    store,
    auth: opts.auth,
    serverName: opts.serverName,
    changes: new EventEmitter().setMaxListeners(0),
    now: opts.now ?? Date.now,
    crossSigningResetUrl: opts.crossSigningResetUrl ?? "http://localhost/account?action=org.matrix.cross_signing_reset",
    resetApprovals: new Map(),
    unstableFeatures: opts.unstableFeatures ?? {},
  };
  const notifyDeviceList = (userId: string): void => {
    store.append("device_list", userId, null, "");
    ctx.changes.emit("change");
  };
  const notifyAccountData = (userId: string, type: string): void => {
    store.append("account_data", userId, null, type);
    ctx.changes.emit("change");
  };

  const devices: DeviceRegistry = {
    async ensureDevice(userId, deviceId, displayName) {
      if (store.insertDevice(userId, deviceId, displayName ?? null, ctx.now())) notifyDeviceList(userId);
    },
  };

  const routes = async (app: FastifyInstance): Promise<void> => {
    let closing = false;
    app.addHook("preClose", async () => {
      closing = true;
      ctx.changes.emit("change"); // release long-polling syncs so the server can close
    });

    // The spec requires CORS on every Client-Server endpoint so browser clients (Element Web) can use it.
    await app.register(cors, {
      origin: "*",
      methods: ["GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS"],
      allowedHeaders: ["X-Requested-With", "Content-Type", "Authorization"],
    });

    // Matrix bodies are JSON whatever the Content-Type says (Synapse ignores it too): parse every body ourselves
    // so that malformed input gets M_NOT_JSON rather than fastify's generic error.
    app.removeAllContentTypeParsers();
    app.addContentTypeParser("*", { parseAs: "buffer", bodyLimit: CS_BODY_LIMIT }, (_req, raw: Buffer, done) => {
      if (raw.length === 0) return done(null, undefined);
      try {
        done(null, JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(raw)) as unknown);
      } catch {
        done(notJson("Content not JSON."), undefined);
      }
    });

    app.setErrorHandler((err: FastifyError | MatrixError, req, reply: FastifyReply) => {
      if (err instanceof MatrixError) return reply.code(err.status).send(err.body());
      switch (err.code) {
        case "FST_ERR_CTP_BODY_TOO_LARGE":
          return reply.code(413).send({ errcode: "M_TOO_LARGE", error: "Request body too large" });
        case "FST_ERR_CTP_INVALID_MEDIA_TYPE":
        case "FST_ERR_CTP_EMPTY_JSON_BODY":
        case "FST_ERR_CTP_INVALID_CONTENT_LENGTH":
          return reply.code(400).send({ errcode: "M_NOT_JSON", error: err.message });
      }
      const status = typeof err.statusCode === "number" && err.statusCode >= 400 && err.statusCode < 500 ? err.statusCode : 500;
      if (status === 500) req.log.error({ err }, "CS API internal error");
      return reply.code(status).send({ errcode: "M_UNKNOWN", error: status === 500 ? "Internal server error" : err.message });
    });
    app.setNotFoundHandler((_req, reply) => reply.code(404).send(unrecognized().body()));

    // Every route but /versions needs a device-scoped token granting the API scope. Checked before the body
    // is parsed, as a server does, so an unauthenticated client learns nothing about body validation.
    app.addHook("onRequest", async (req) => {
      if (req.routeOptions.config && (req.routeOptions.config as { public?: boolean }).public) return;
      if (req.is404 || req.method === "OPTIONS") return;
      const token = bearerToken(req);
      if (token === null) throw new MatrixError(401, "M_MISSING_TOKEN", "Missing access token");
      const info = await ctx.auth.verifyAccessToken(token);
      if (!info || !info.scopes.some((s) => API_SCOPES.has(s))) {
        throw new MatrixError(401, "M_UNKNOWN_TOKEN", "Invalid access token passed.", { soft_logout: false });
      }
      // The device exists from the moment its token does; recreate a row lost with a deleted device only via the OAuth side.
      if (!store.getDevice(info.userId, info.deviceId)) throw new MatrixError(401, "M_UNKNOWN_TOKEN", "Device has been deleted", { soft_logout: false });
      store.touchDevice(info.userId, info.deviceId, ctx.now());
      setCaller(req, info);
    });

    app.get("/versions", { config: { public: true } }, async () => ({
      versions: SPEC_VERSIONS,
      unstable_features: { ...ctx.unstableFeatures },
    }));

    accountRoutes(app, ctx, { notifyDeviceList, notifyAccountData });
    keyRoutes(app, ctx, notifyDeviceList);
    backupRoutes(app, ctx);
    syncRoutes(app, ctx, () => closing);
  };

  const plugin: FastifyPluginAsync = async (app) => {
    await app.register(routes, { prefix: CS_PREFIX });
  };

  return {
    plugin,
    devices,
    store,
    allowCrossSigningReset(userId) {
      ctx.resetApprovals.set(userId, ctx.now() + RESET_APPROVAL_MS);
    },
  };
}
