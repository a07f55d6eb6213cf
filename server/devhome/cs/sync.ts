// A minimal /sync: to-device messages, device-list changes, one-time-key counts and global account data,
// no rooms. The token is the position in cs_stream; long-polling waits for a write or the timeout.
import type { FastifyInstance } from "fastify";
import type { CsContext } from "./context.js";
import { caller, query } from "./context.js";
import { invalidParam } from "./errors.js";
import type { Json, JsonObject } from "./json.js";
import type { StreamRow } from "./store.js";

/** Longest long-poll this server honours; clients ask for 30 s, tests should not wait that long at shutdown. */
export const MAX_SYNC_WAIT_MS = 30_000;
const MAX_TO_DEVICE = 100;

export function syncRoutes(app: FastifyInstance, ctx: CsContext, closing: () => boolean): void {
  const { store } = ctx;

  app.get("/v3/sync", async (req, reply) => {
    const { userId, deviceId } = caller(req);
    const sinceRaw = query(req, "since");
    if (sinceRaw !== undefined && !/^[0-9]{1,15}$/.test(sinceRaw)) throw invalidParam("since is not a token this server issued");
    const since = sinceRaw === undefined ? undefined : Number(sinceRaw);
    const timeoutRaw = query(req, "timeout");
    const timeout = timeoutRaw !== undefined && /^[0-9]{1,9}$/.test(timeoutRaw) ? Math.min(Number(timeoutRaw), MAX_SYNC_WAIT_MS) : 0;
    if (since !== undefined) store.ackToDevice(userId, deviceId, since);

    const collect = (): { rows: StreamRow[]; until: number } => {
      const until = store.maxStreamId();
      const rows = since === undefined ? store.pendingToDevice(userId, deviceId, 0).filter((r) => r.stream_id <= until) : store.streamFor(userId, deviceId, since, until);
      return { rows, until };
    };
    let { rows, until } = collect();
    if (since !== undefined && rows.length === 0 && timeout > 0 && !closing()) {
      await new Promise<void>((resolve) => {
        const done = () => {
          clearTimeout(timer);
          ctx.changes.off("change", check);
          reply.raw.off("close", done);
          resolve();
        };
        const check = () => {
          if (closing() || collect().rows.length > 0) done();
        };
        const timer = setTimeout(done, timeout);
        ctx.changes.on("change", check);
        reply.raw.on("close", done);
      });
      ({ rows, until } = collect());
    }

    // Cap to-device messages per response; the rest come with the next sync (next_batch stops before them).
    const toDevice: Json[] = [];
    const changed = new Set<string>();
    const accountTypes = new Set<string>();
    let nextBatch = until;
    for (const r of rows) {
      if (r.kind === "to_device") {
        if (toDevice.length === MAX_TO_DEVICE) {
          nextBatch = r.stream_id - 1;
          break;
        }
        toDevice.push(JSON.parse(r.payload) as JsonObject);
      } else if (r.kind === "device_list") changed.add(r.user_id);
      else accountTypes.add(r.payload);
    }
    const accountData =
      since === undefined
        ? store.allAccountData(userId)
        : [...accountTypes].flatMap((type) => {
            const content = store.getAccountData(userId, type);
            return content === undefined ? [] : [{ type, content }];
          });
    const otkCounts = store.countOneTimeKeys(userId, deviceId);
    const fallbackTypes = store.unusedFallbackKeyTypes(userId, deviceId);
    return {
      next_batch: String(nextBatch),
      rooms: { join: {}, invite: {}, leave: {}, knock: {} },
      presence: { events: [] },
      account_data: { events: accountData.map((a) => ({ type: a.type, content: JSON.parse(a.content) as Json })) },
      to_device: { events: toDevice },
      device_lists: { changed: [...changed].sort(), left: [] },
      device_one_time_keys_count: { signed_curve25519: 0, ...otkCounts },
      device_unused_fallback_key_types: fallbackTypes,
      "org.matrix.msc2732.device_unused_fallback_key_types": fallbackTypes,
    };
  });
}
