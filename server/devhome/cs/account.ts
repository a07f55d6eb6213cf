// Account-level endpoints: whoami, devices, account data, filters, profile, push rules, capabilities —
// what a matrix-js-sdk client asks for when it starts, answered with the spec's shapes.
import type { FastifyInstance, FastifyRequest } from "fastify";
import type { CsContext } from "./context.js";
import { body, caller, param } from "./context.js";
import { badJson, forbidden, MatrixError, notFound } from "./errors.js";
import { isObject } from "./json.js";
import type { JsonObject } from "./json.js";

export function accountRoutes(
  app: FastifyInstance,
  ctx: CsContext,
  hooks: { notifyDeviceList: (userId: string) => void; notifyAccountData: (userId: string, type: string) => void },
): void {
  const { store } = ctx;

  app.get("/v3/account/whoami", async (req) => {
    const { userId, deviceId } = caller(req);
    return { user_id: userId, device_id: deviceId, is_guest: false };
  });

  const deviceJson = (d: { device_id: string; display_name: string | null; last_seen_ts: number | null }): JsonObject => ({
    device_id: d.device_id,
    ...(d.display_name !== null ? { display_name: d.display_name } : {}),
    ...(d.last_seen_ts !== null ? { last_seen_ts: d.last_seen_ts, last_seen_ip: "127.0.0.1" } : {}),
  });

  app.get("/v3/devices", async (req) => {
    const { userId } = caller(req);
    return { devices: store.listDevices(userId).map(deviceJson) };
  });

  const ownDevice = (req: FastifyRequest) => {
    const { userId } = caller(req);
    const deviceId = param(req, "deviceId");
    const d = store.getDevice(userId, deviceId);
    if (!d) throw notFound("Device not found");
    return { userId, deviceId, d };
  };

  app.get("/v3/devices/:deviceId", async (req) => deviceJson(ownDevice(req).d));

  app.put("/v3/devices/:deviceId", async (req) => {
    const { userId, deviceId } = ownDevice(req);
    const b = body(req);
    if (b.display_name !== undefined && typeof b.display_name !== "string") throw badJson("display_name must be a string");
    if (typeof b.display_name === "string") {
      if (b.display_name.length > 100) throw new MatrixError(400, "M_TOO_LARGE", "display_name is longer than 100 characters");
      store.setDisplayName(userId, deviceId, b.display_name);
      hooks.notifyDeviceList(userId);
    }
    return {};
  });

  // Deleting a device signs it out: its keys go, its tokens are revoked. The spec asks for UIA here; in the
  // OAuth world the account management UI authorises it, and this development server trusts the token.
  app.delete("/v3/devices/:deviceId", async (req) => {
    const { userId, deviceId } = ownDevice(req);
    store.tx(() => store.deleteDevice(userId, deviceId));
    await ctx.auth.revokeDeviceTokens(userId, deviceId);
    hooks.notifyDeviceList(userId);
    return {};
  });

  const selfOnly = (req: FastifyRequest): string => {
    const { userId } = caller(req);
    if (param(req, "userId") !== userId) throw forbidden("Cannot access another user's data");
    return userId;
  };

  app.get("/v3/user/:userId/account_data/:type", async (req) => {
    const userId = selfOnly(req);
    const content = store.getAccountData(userId, param(req, "type"));
    if (content === undefined) throw notFound("Account data not found");
    return JSON.parse(content) as JsonObject;
  });

  app.put("/v3/user/:userId/account_data/:type", async (req) => {
    const userId = selfOnly(req);
    const type = param(req, "type");
    if (type === "m.fully_read" || type === "m.push_rules") {
      throw new MatrixError(405, "M_BAD_JSON", `Cannot set ${type} through this API`);
    }
    const content = body(req);
    store.putAccountData(userId, type, JSON.stringify(content));
    hooks.notifyAccountData(userId, type);
    return {};
  });

  app.post("/v3/user/:userId/filter", async (req) => {
    const userId = selfOnly(req);
    return { filter_id: String(store.putFilter(userId, JSON.stringify(body(req)))) };
  });

  app.get("/v3/user/:userId/filter/:filterId", async (req) => {
    const userId = selfOnly(req);
    const id = param(req, "filterId");
    const f = /^[0-9]{1,15}$/.test(id) ? store.getFilter(userId, Number(id)) : undefined;
    if (f === undefined) throw notFound("No such filter");
    return JSON.parse(f) as JsonObject;
  });

  // Profiles exist for users this server has seen a device of (accounts live on the OAuth side).
  const profile = (userId: string): JsonObject => {
    if (store.listDevices(userId).length === 0) throw notFound("Profile not found");
    const local = /^@([^:]+):/.exec(userId)?.[1] ?? userId;
    return { displayname: store.getAccountData(userId, "io.qr-login.displayname") ?? local };
  };
  app.get("/v3/profile/:userId", async (req) => {
    caller(req);
    return profile(param(req, "userId"));
  });
  app.get("/v3/profile/:userId/displayname", async (req) => {
    caller(req);
    return { displayname: profile(param(req, "userId")).displayname };
  });
  app.get("/v3/profile/:userId/avatar_url", async (req) => {
    caller(req);
    profile(param(req, "userId"));
    throw notFound("No avatar_url set");
  });

  app.get("/v3/pushrules/", async (req) => {
    caller(req);
    return { global: { override: [], content: [], room: [], sender: [], underride: [] } };
  });

  app.get("/v3/capabilities", async (req) => {
    caller(req);
    return {
      capabilities: {
        "m.change_password": { enabled: false },
        "m.set_displayname": { enabled: false },
        "m.set_avatar_url": { enabled: false },
        "m.3pid_changes": { enabled: false },
        "m.get_login_token": { enabled: false },
        "m.room_versions": { default: "11", available: { "11": "stable" } },
      },
    };
  });

  // No TURN server: the spec lets a server answer with an empty object.
  app.get("/v3/voip/turnServer", async (req) => {
    caller(req);
    return {};
  });

  app.put("/v3/sendToDevice/:eventType/:txnId", async (req) => {
    const { userId: sender, deviceId: senderDevice } = caller(req);
    const type = param(req, "eventType");
    const b = body(req);
    if (!isObject(b.messages)) throw badJson("messages must be an object");
    for (const [u, devices] of Object.entries(b.messages)) {
      if (!isObject(devices)) throw badJson(`messages.${u} must be an object`);
      for (const [d, content] of Object.entries(devices)) if (!isObject(content)) throw badJson(`messages.${u}.${d} must be an object`);
    }
    const targets = new Set<string>();
    store.tx(() => {
      // A retried transaction is acknowledged without delivering twice.
      if (!store.recordTxn(sender, senderDevice, `sendToDevice/${type}/${param(req, "txnId")}`, ctx.now())) return;
      for (const [userId, devices] of Object.entries(b.messages as JsonObject)) {
        for (const [deviceId, content] of Object.entries(devices as JsonObject)) {
          const ids = deviceId === "*" ? store.listDevices(userId).map((d) => d.device_id) : store.getDevice(userId, deviceId) ? [deviceId] : [];
          for (const id of ids) {
            store.append("to_device", userId, id, JSON.stringify({ type, sender, content }));
            targets.add(userId);
          }
        }
      }
    });
    if (targets.size > 0) ctx.changes.emit("change");
    return {};
  });
}
