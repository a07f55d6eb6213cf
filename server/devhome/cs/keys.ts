// End-to-end encryption key endpoints (spec "End-to-end encryption" module + cross-signing). Uploaded
// keys are checked the way a real server can cheaply check them: the object belongs to the caller and
// every signature the server can attribute to a known key verifies (ed25519 over canonical JSON).
import type { FastifyInstance } from "fastify";
import type { CsContext } from "./context.js";
import { body, caller } from "./context.js";
import { badJson, invalidParam, invalidSignature, MatrixError, missingParam } from "./errors.js";
import { canonicalJson, isObject, verifySignature } from "./json.js";
import type { Json, JsonObject } from "./json.js";

export type CrossSigningUsage = "master" | "self_signing" | "user_signing";
const USAGES: CrossSigningUsage[] = ["master", "self_signing", "user_signing"];

/** Replacing an existing identity is approved for this long (Synapse + MAS use 10 minutes). */
export const RESET_APPROVAL_MS = 10 * 60 * 1000;

/** The single ed25519 public key of a cross-signing key object, or undefined. */
export function crossSigningPublicKey(key: JsonObject): string | undefined {
  const keys = key.keys;
  if (!isObject(keys)) return undefined;
  const entries = Object.entries(keys);
  if (entries.length !== 1) return undefined;
  const [id, pub] = entries[0]!;
  return typeof pub === "string" && id === `ed25519:${pub}` ? pub : undefined;
}

function withoutSignatures(o: JsonObject): string {
  const { signatures: _s, unsigned: _u, ...rest } = o;
  return canonicalJson(rest);
}

/** Adds stored third-party signatures to a key object for keys/query. */
function mergeSignatures(ctx: CsContext, target: JsonObject, targetUser: string, targetKey: string, viewer: string): JsonObject {
  const sigs: Record<string, Record<string, Json>> = {};
  if (isObject(target.signatures)) {
    for (const [u, s] of Object.entries(target.signatures)) if (isObject(s)) sigs[u] = { ...s };
  }
  for (const row of ctx.store.signaturesOn(targetUser, targetKey)) {
    // Another user's signature on someone's master key (their user-signing key's) is private to them.
    if (row.signer_user !== targetUser && row.signer_user !== viewer) continue;
    (sigs[row.signer_user] ??= {})[row.signer_key_id] = row.signature;
  }
  return { ...target, signatures: sigs };
}

function deviceEd25519(keys: JsonObject | undefined, deviceId: string): string | undefined {
  const k = keys && isObject(keys.keys) ? keys.keys[`ed25519:${deviceId}`] : undefined;
  return typeof k === "string" ? k : undefined;
}

function checkDeviceKeys(ctx: CsContext, userId: string, deviceId: string, dk: JsonObject): void {
  if (dk.user_id !== userId || dk.device_id !== deviceId) {
    throw invalidParam("device_keys.user_id and device_id must be the caller's");
  }
  if (!Array.isArray(dk.algorithms) || !dk.algorithms.every((a) => typeof a === "string")) throw badJson("device_keys.algorithms must be a list of strings");
  if (!isObject(dk.keys)) throw badJson("device_keys.keys must be an object");
  const ed = deviceEd25519(dk, deviceId);
  if (!ed || typeof dk.keys[`curve25519:${deviceId}`] !== "string") {
    throw invalidParam(`device_keys.keys needs ed25519:${deviceId} and curve25519:${deviceId}`);
  }
  if (!verifySignature(dk, userId, `ed25519:${deviceId}`, ed)) throw invalidSignature("device_keys are not signed by the device's ed25519 key");
  // A signature by the self-signing key (a device that imported the private keys signs itself at upload) must verify.
  const ssk = ctx.store.getCrossSigningKey(userId, "self_signing");
  const sskPub = ssk && crossSigningPublicKey(ssk);
  const own = isObject(dk.signatures) && isObject(dk.signatures[userId]) ? dk.signatures[userId] : {};
  for (const keyId of Object.keys(own)) {
    if (keyId === `ed25519:${deviceId}`) continue;
    if (sskPub && keyId === `ed25519:${sskPub}`) {
      if (!verifySignature(dk, userId, keyId, sskPub)) throw invalidSignature("device_keys signature by the self-signing key does not verify");
    }
  }
}

/** One-time and fallback keys: `signed_*` algorithms must carry the device's signature. */
function checkAlgorithmKey(userId: string, deviceId: string, ed: string | undefined, keyId: string, value: Json): { algorithm: string } {
  const colon = keyId.indexOf(":");
  if (colon <= 0 || colon === keyId.length - 1) throw invalidParam(`key id ${keyId} is not <algorithm>:<id>`);
  const algorithm = keyId.slice(0, colon);
  if (typeof value === "string") {
    if (algorithm.startsWith("signed_")) throw invalidParam(`${keyId} must be a signed key object`);
    return { algorithm };
  }
  if (!isObject(value) || typeof value.key !== "string") throw badJson(`${keyId} must be a key string or a signed key object`);
  if (algorithm.startsWith("signed_")) {
    if (!ed) throw invalidParam("upload device_keys before signed one-time keys");
    if (!verifySignature(value, userId, `ed25519:${deviceId}`, ed)) throw invalidSignature(`${keyId} is not signed by the device`);
  }
  return { algorithm };
}

export function keyRoutes(app: FastifyInstance, ctx: CsContext, notifyDeviceList: (userId: string) => void): void {
  const { store } = ctx;

  app.post("/v3/keys/upload", async (req) => {
    const { userId, deviceId } = caller(req);
    const b = body(req);
    let changed = false;
    store.tx(() => {
      if (b.device_keys !== undefined) {
        if (!isObject(b.device_keys)) throw badJson("device_keys must be an object");
        checkDeviceKeys(ctx, userId, deviceId, b.device_keys);
        const old = store.getDeviceKeys(userId, deviceId);
        if (!old || canonicalJson(old) !== canonicalJson(b.device_keys)) {
          // A new identity key means a new Olm account on the same device id (a client restored without its
          // crypto store): signatures over the old key and the old account's one-time and fallback keys are void.
          // Dropping them lets the new account's key ids (which restart at AAAAAQ) upload without collisions.
          if (old && deviceEd25519(old, deviceId) !== deviceEd25519(b.device_keys, deviceId)) {
            store.deleteSignaturesOn(userId, deviceId);
            store.deleteDeviceOneTimeKeys(userId, deviceId);
          }
          store.putDeviceKeys(userId, deviceId, b.device_keys);
          changed = true;
        }
      }
      const ed = deviceEd25519(store.getDeviceKeys(userId, deviceId), deviceId);
      if (b.one_time_keys !== undefined) {
        if (!isObject(b.one_time_keys)) throw badJson("one_time_keys must be an object");
        for (const [keyId, value] of Object.entries(b.one_time_keys)) {
          const { algorithm } = checkAlgorithmKey(userId, deviceId, ed, keyId, value);
          const json = canonicalJson(value);
          const existing = store.getOneTimeKey(userId, deviceId, algorithm, keyId);
          if (existing === undefined) store.putOneTimeKey(userId, deviceId, algorithm, keyId, json);
          else if (existing !== json) throw invalidParam(`one-time key ${keyId} already exists with different content`);
        }
      }
      const fallback = b.fallback_keys ?? b["org.matrix.msc2732.fallback_keys"];
      if (fallback !== undefined) {
        if (!isObject(fallback)) throw badJson("fallback_keys must be an object");
        for (const [keyId, value] of Object.entries(fallback)) {
          const { algorithm } = checkAlgorithmKey(userId, deviceId, ed, keyId, value);
          store.putFallbackKey(userId, deviceId, algorithm, keyId, canonicalJson(value));
        }
      }
    });
    if (changed) notifyDeviceList(userId);
    return { one_time_key_counts: store.countOneTimeKeys(userId, deviceId) };
  });

  app.post("/v3/keys/query", async (req) => {
    const { userId: viewer } = caller(req);
    const b = body(req);
    if (!isObject(b.device_keys)) throw badJson("device_keys must be an object");
    const out = { device_keys: {} as JsonObject, failures: {}, master_keys: {} as JsonObject, self_signing_keys: {} as JsonObject, user_signing_keys: {} as JsonObject };
    for (const [userId, wanted] of Object.entries(b.device_keys)) {
      if (!Array.isArray(wanted) || !wanted.every((d) => typeof d === "string")) throw badJson(`device_keys.${userId} must be a list of device ids`);
      const devices: JsonObject = {};
      const ids = wanted.length > 0 ? (wanted as string[]) : store.listDevices(userId).map((d) => d.device_id);
      for (const deviceId of ids) {
        const dk = store.getDeviceKeys(userId, deviceId);
        const dev = store.getDevice(userId, deviceId);
        if (!dk || !dev) continue;
        const merged = mergeSignatures(ctx, dk, userId, deviceId, viewer);
        devices[deviceId] = { ...merged, unsigned: dev.display_name === null ? {} : { device_display_name: dev.display_name } };
      }
      out.device_keys[userId] = devices;
      for (const usage of USAGES) {
        if (usage === "user_signing" && userId !== viewer) continue;
        const key = store.getCrossSigningKey(userId, usage);
        const pub = key && crossSigningPublicKey(key);
        if (!key || !pub) continue;
        const target = usage === "master" ? out.master_keys : usage === "self_signing" ? out.self_signing_keys : out.user_signing_keys;
        target[userId] = mergeSignatures(ctx, key, userId, pub, viewer);
      }
    }
    return out;
  });

  app.post("/v3/keys/claim", async (req) => {
    caller(req);
    const b = body(req);
    if (!isObject(b.one_time_keys)) throw badJson("one_time_keys must be an object");
    const result: JsonObject = {};
    store.tx(() => {
      for (const [userId, devices] of Object.entries(b.one_time_keys as JsonObject)) {
        if (!isObject(devices)) throw badJson(`one_time_keys.${userId} must be an object`);
        const perUser: JsonObject = {};
        for (const [deviceId, algorithm] of Object.entries(devices)) {
          if (typeof algorithm !== "string") throw badJson("the requested algorithm must be a string");
          const got = store.takeOneTimeKey(userId, deviceId, algorithm) ?? store.useFallbackKey(userId, deviceId, algorithm);
          if (got) perUser[deviceId] = { [got.key_id]: JSON.parse(got.key_json) as Json };
        }
        if (Object.keys(perUser).length > 0) result[userId] = perUser;
      }
    });
    return { one_time_keys: result, failures: {} };
  });

  app.post("/v3/keys/device_signing/upload", async (req, reply) => {
    const { userId } = caller(req);
    const b = body(req);
    const given: Partial<Record<CrossSigningUsage, JsonObject>> = {};
    for (const usage of USAGES) {
      const k = b[`${usage}_key`];
      if (k === undefined) continue;
      if (!isObject(k)) throw badJson(`${usage}_key must be an object`);
      if (k.user_id !== userId) throw invalidParam(`${usage}_key.user_id must be ${userId}`);
      if (!Array.isArray(k.usage) || !k.usage.includes(usage)) throw invalidParam(`${usage}_key.usage must include ${usage}`);
      if (!crossSigningPublicKey(k)) throw invalidParam(`${usage}_key.keys must hold exactly one ed25519:<public key> entry`);
      given[usage] = k;
    }
    const existing = Object.fromEntries(USAGES.map((u) => [u, store.getCrossSigningKey(userId, u)])) as Record<CrossSigningUsage, JsonObject | undefined>;
    const master = given.master ?? existing.master;
    if (!master) throw missingParam("master_key is required: the user has no cross-signing identity yet");
    const masterPub = crossSigningPublicKey(master)!;

    // Master-key signatures the server can check: its own, and those of the user's devices.
    if (given.master) {
      const own = isObject(given.master.signatures) && isObject(given.master.signatures[userId]) ? given.master.signatures[userId] : {};
      for (const keyId of Object.keys(own)) {
        if (keyId === `ed25519:${masterPub}`) {
          if (!verifySignature(given.master, userId, keyId, masterPub)) throw invalidSignature("master_key self-signature does not verify");
          continue;
        }
        const dev = keyId.startsWith("ed25519:") ? keyId.slice(8) : "";
        const ed = deviceEd25519(store.getDeviceKeys(userId, dev), dev);
        if (ed && !verifySignature(given.master, userId, keyId, ed)) throw invalidSignature(`master_key signature by device ${dev} does not verify`);
      }
    }
    for (const usage of ["self_signing", "user_signing"] as const) {
      const k = given[usage];
      if (k && !verifySignature(k, userId, `ed25519:${masterPub}`, masterPub)) {
        throw invalidSignature(`${usage}_key is not signed by the master key`);
      }
    }

    // UIA: creating the first identity needs none (Synapse + MAS behave so for OAuth-era clients) and
    // re-uploading identical keys is an idempotent retry; replacing any existing key needs the user's
    // approval, given out of band (MAS's "reset identity" page; here allowCrossSigningReset()).
    const replaces = USAGES.some((u) => given[u] && existing[u] && canonicalJson(given[u]) !== canonicalJson(existing[u]));
    if (replaces) {
      const until = ctx.resetApprovals.get(userId) ?? 0;
      if (until < ctx.now()) {
        const params = { url: ctx.crossSigningResetUrl };
        return reply.code(401).send({
          session: `xsign-${ctx.now()}`,
          flows: [{ stages: ["m.oauth"] }, { stages: ["org.matrix.cross_signing_reset"] }],
          params: { "m.oauth": params, "org.matrix.cross_signing_reset": params },
          errcode: "M_FORBIDDEN",
          error: "Replacing the cross-signing keys needs the user's approval at the account management URL",
        });
      }
      ctx.resetApprovals.delete(userId);
    }
    let changed = false;
    store.tx(() => {
      for (const usage of USAGES) {
        const k = given[usage];
        const old = existing[usage];
        if (!k || (old && canonicalJson(old) === canonicalJson(k))) continue;
        if (old) {
          const oldPub = crossSigningPublicKey(old);
          if (oldPub) {
            store.deleteSignaturesBy(userId, `ed25519:${oldPub}`);
            store.deleteSignaturesOn(userId, oldPub);
          }
        }
        store.putCrossSigningKey(userId, usage, k);
        changed = true;
      }
    });
    if (changed) notifyDeviceList(userId);
    return {};
  });

  app.post("/v3/keys/signatures/upload", async (req) => {
    const { userId: signer } = caller(req);
    const b = body(req);
    const failures: Record<string, Record<string, { errcode: string; error: string }>> = {};
    const fail = (u: string, k: string, e: MatrixError) => {
      (failures[u] ??= {})[k] = { errcode: e.errcode, error: e.message };
    };
    const touched = new Set<string>();
    const master = store.getCrossSigningKey(signer, "master");
    const masterPub = master && crossSigningPublicKey(master);
    const ssk = store.getCrossSigningKey(signer, "self_signing");
    const sskPub = ssk && crossSigningPublicKey(ssk);
    const usk = store.getCrossSigningKey(signer, "user_signing");
    const uskPub = usk && crossSigningPublicKey(usk);

    store.tx(() => {
      for (const [targetUser, objects] of Object.entries(b)) {
        if (!isObject(objects)) throw badJson(`${targetUser} must map key ids to signed objects`);
        for (const [targetKey, signed] of Object.entries(objects)) {
          try {
            if (!isObject(signed)) throw badJson("signed object must be a JSON object");
            // Which stored object is signed, and by which of the signer's keys it may be.
            let stored: JsonObject | undefined;
            const allowed = new Map<string, string>(); // key id → public key
            let selfKeyId: string | undefined;
            if (targetUser === signer) {
              const dk = store.getDeviceKeys(signer, targetKey);
              if (dk) {
                stored = dk;
                selfKeyId = `ed25519:${targetKey}`;
                if (sskPub) allowed.set(`ed25519:${sskPub}`, sskPub);
              } else if (masterPub && targetKey === masterPub) {
                stored = master;
                selfKeyId = `ed25519:${masterPub}`;
                for (const d of store.listDevices(signer)) {
                  const ed = deviceEd25519(store.getDeviceKeys(signer, d.device_id), d.device_id);
                  if (ed) allowed.set(`ed25519:${d.device_id}`, ed);
                }
              }
            } else {
              const theirMaster = store.getCrossSigningKey(targetUser, "master");
              if (theirMaster && crossSigningPublicKey(theirMaster) === targetKey) {
                stored = theirMaster;
                if (uskPub) allowed.set(`ed25519:${uskPub}`, uskPub);
              }
            }
            if (!stored) throw new MatrixError(404, "M_NOT_FOUND", `unknown key ${targetKey} of ${targetUser}`);
            if (withoutSignatures(stored) !== withoutSignatures(signed)) throw invalidParam("signed object does not match the stored key");
            const mine = isObject(signed.signatures) && isObject(signed.signatures[signer]) ? signed.signatures[signer] : {};
            const fresh: [string, string][] = [];
            for (const [keyId, sig] of Object.entries(mine)) {
              if (keyId === selfKeyId) continue;
              const pub = allowed.get(keyId);
              if (!pub) throw invalidSignature(`${keyId} may not sign ${targetKey}`);
              if (typeof sig !== "string" || !verifySignature(signed, signer, keyId, pub)) throw invalidSignature(`signature by ${keyId} does not verify`);
              fresh.push([keyId, sig]);
            }
            if (fresh.length === 0) throw invalidSignature(`no signature by ${signer}'s signing keys on ${targetKey}`);
            for (const [keyId, sig] of fresh) store.putSignature(targetUser, targetKey, signer, keyId, sig);
            touched.add(targetUser);
          } catch (e) {
            if (!(e instanceof MatrixError)) throw e;
            fail(targetUser, targetKey, e);
          }
        }
      }
    });
    for (const u of touched) notifyDeviceList(u);
    return { failures };
  });
}
