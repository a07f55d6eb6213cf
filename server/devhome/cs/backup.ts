// Server-side key backup (spec "Server-side key backups"): versions and the backed-up session keys.
// The server stores auth_data and session_data opaquely; the only policy is which copy of a session
// key to keep when two are uploaded, which the spec defines.
import type { FastifyInstance, FastifyRequest } from "fastify";
import type { CsContext } from "./context.js";
import { body, caller, param, query } from "./context.js";
import { badJson, invalidParam, MatrixError, missingParam, notFound } from "./errors.js";
import { isObject } from "./json.js";
import type { JsonObject } from "./json.js";
import type { BackupVersionRow } from "./store.js";

function versionInfo(ctx: CsContext, userId: string, v: BackupVersionRow): JsonObject {
  return {
    algorithm: v.algorithm,
    auth_data: JSON.parse(v.auth_data) as JsonObject,
    count: ctx.store.countBackupKeys(userId, v.version),
    etag: String(v.etag),
    version: String(v.version),
  };
}

function parseVersion(s: string | undefined): number | undefined {
  return s !== undefined && /^[1-9][0-9]{0,14}$/.test(s) ? Number(s) : undefined;
}

function checkKeyBackupData(d: unknown, where: string): JsonObject {
  if (
    !isObject(d) ||
    !Number.isSafeInteger(d.first_message_index) ||
    !Number.isSafeInteger(d.forwarded_count) ||
    typeof d.is_verified !== "boolean" ||
    !isObject(d.session_data)
  ) {
    throw badJson(`${where} must be KeyBackupData {first_message_index, forwarded_count, is_verified, session_data}`);
  }
  return d;
}

/** The spec's rule: a verified key beats an unverified one, then the lower first_message_index, then the lower forwarded_count. */
export function isBetterBackupKey(candidate: JsonObject, existing: JsonObject): boolean {
  if (candidate.is_verified !== existing.is_verified) return candidate.is_verified === true;
  const ci = candidate.first_message_index as number;
  const ei = existing.first_message_index as number;
  if (ci !== ei) return ci < ei;
  return (candidate.forwarded_count as number) < (existing.forwarded_count as number);
}

export function backupRoutes(app: FastifyInstance, ctx: CsContext): void {
  const { store } = ctx;

  const checkVersionBody = (b: JsonObject): { algorithm: string; authData: JsonObject } => {
    if (typeof b.algorithm !== "string" || b.algorithm === "") throw badJson("algorithm must be a string");
    if (!isObject(b.auth_data)) throw badJson("auth_data must be an object");
    return { algorithm: b.algorithm, authData: b.auth_data };
  };

  app.post("/v3/room_keys/version", async (req) => {
    const { userId } = caller(req);
    const { algorithm, authData } = checkVersionBody(body(req));
    return { version: String(store.createBackup(userId, algorithm, JSON.stringify(authData))) };
  });

  app.get("/v3/room_keys/version", async (req) => {
    const { userId } = caller(req);
    const v = store.currentBackup(userId);
    if (!v) throw notFound("No current backup version");
    return versionInfo(ctx, userId, v);
  });

  const existingVersion = (req: FastifyRequest, userId: string): BackupVersionRow => {
    const n = parseVersion(param(req, "version"));
    const v = n === undefined ? undefined : store.getBackup(userId, n);
    if (!v) throw notFound("Unknown backup version");
    return v;
  };

  app.get("/v3/room_keys/version/:version", async (req) => {
    const { userId } = caller(req);
    return versionInfo(ctx, userId, existingVersion(req, userId));
  });

  app.put("/v3/room_keys/version/:version", async (req) => {
    const { userId } = caller(req);
    const v = existingVersion(req, userId);
    const b = body(req);
    const { algorithm, authData } = checkVersionBody(b);
    if (b.version !== undefined && b.version !== String(v.version)) throw invalidParam("version in body does not match the path");
    if (algorithm !== v.algorithm) throw invalidParam("algorithm cannot change");
    store.updateBackupAuthData(userId, v.version, JSON.stringify(authData));
    return {};
  });

  app.delete("/v3/room_keys/version/:version", async (req) => {
    const { userId } = caller(req);
    store.deleteBackup(userId, existingVersion(req, userId).version);
    return {};
  });

  /** Writes go to the current version only (403 M_WRONG_ROOM_KEYS_VERSION otherwise, with current_version). */
  const writableVersion = (req: FastifyRequest, userId: string): number => {
    const raw = query(req, "version");
    if (raw === undefined) throw missingParam("version query parameter required");
    const current = store.currentBackup(userId);
    if (!current) throw notFound("No current backup version");
    if (parseVersion(raw) !== current.version) {
      throw new MatrixError(403, "M_WRONG_ROOM_KEYS_VERSION", "Wrong backup version.", { current_version: String(current.version) });
    }
    return current.version;
  };
  const readableVersion = (req: FastifyRequest, userId: string): number => {
    const raw = query(req, "version");
    if (raw === undefined) throw missingParam("version query parameter required");
    const n = parseVersion(raw);
    if (n === undefined || !store.getBackup(userId, n)) throw notFound("Unknown backup version");
    return n;
  };

  const putSessions = (userId: string, version: number, rooms: Record<string, Record<string, JsonObject>>): JsonObject => {
    let changed = false;
    store.tx(() => {
      for (const [roomId, sessions] of Object.entries(rooms)) {
        for (const [sessionId, data] of Object.entries(sessions)) {
          const old = store.getBackupKey(userId, version, roomId, sessionId);
          if (!old || isBetterBackupKey(data, old)) {
            store.putBackupKey(userId, version, roomId, sessionId, data);
            changed = true;
          }
        }
      }
    });
    const etag = changed ? store.bumpBackupEtag(userId, version) : (store.getBackup(userId, version)?.etag ?? 0);
    return { count: store.countBackupKeys(userId, version), etag: String(etag) };
  };

  const sessionsOf = (v: unknown, where: string): Record<string, JsonObject> => {
    if (!isObject(v) || !isObject(v.sessions)) throw badJson(`${where} must be {sessions: {...}}`);
    return Object.fromEntries(Object.entries(v.sessions).map(([sid, d]) => [sid, checkKeyBackupData(d, `${where}.sessions.${sid}`)]));
  };

  app.put("/v3/room_keys/keys", async (req) => {
    const { userId } = caller(req);
    const b = body(req);
    const version = writableVersion(req, userId);
    if (!isObject(b.rooms)) throw badJson("rooms must be an object");
    const rooms = Object.fromEntries(Object.entries(b.rooms).map(([r, v]) => [r, sessionsOf(v, `rooms.${r}`)]));
    return putSessions(userId, version, rooms);
  });
  app.put("/v3/room_keys/keys/:roomId", async (req) => {
    const { userId } = caller(req);
    const roomId = param(req, "roomId");
    const sessions = sessionsOf(body(req), "body");
    return putSessions(userId, writableVersion(req, userId), { [roomId]: sessions });
  });
  app.put("/v3/room_keys/keys/:roomId/:sessionId", async (req) => {
    const { userId } = caller(req);
    const data = checkKeyBackupData(body(req), "body");
    return putSessions(userId, writableVersion(req, userId), { [param(req, "roomId")]: { [param(req, "sessionId")]: data } });
  });

  const collect = (userId: string, version: number, roomId?: string): Record<string, { sessions: JsonObject }> => {
    const rooms: Record<string, { sessions: JsonObject }> = {};
    for (const row of store.listBackupKeys(userId, version, roomId)) {
      (rooms[row.room_id] ??= { sessions: {} }).sessions[row.session_id] = JSON.parse(row.data) as JsonObject;
    }
    return rooms;
  };
  app.get("/v3/room_keys/keys", async (req) => {
    const { userId } = caller(req);
    return { rooms: collect(userId, readableVersion(req, userId)) };
  });
  app.get("/v3/room_keys/keys/:roomId", async (req) => {
    const { userId } = caller(req);
    const roomId = param(req, "roomId");
    // The spec answers an unknown room with an empty session map, not 404.
    return { sessions: collect(userId, readableVersion(req, userId), roomId)[roomId]?.sessions ?? {} };
  });
  app.get("/v3/room_keys/keys/:roomId/:sessionId", async (req) => {
    const { userId } = caller(req);
    const d = store.getBackupKey(userId, readableVersion(req, userId), param(req, "roomId"), param(req, "sessionId"));
    if (!d) throw notFound("No room_keys found");
    return d;
  });

  const del = async (req: FastifyRequest): Promise<JsonObject> => {
    const { userId } = caller(req);
    const version = writableVersion(req, userId);
    const p = req.params as { roomId?: string; sessionId?: string };
    if (store.deleteBackupKeys(userId, version, p.roomId, p.sessionId) > 0) store.bumpBackupEtag(userId, version);
    return { count: store.countBackupKeys(userId, version), etag: String(store.getBackup(userId, version)?.etag ?? 0) };
  };
  app.delete("/v3/room_keys/keys", del);
  app.delete("/v3/room_keys/keys/:roomId", del);
  app.delete("/v3/room_keys/keys/:roomId/:sessionId", del);
}
