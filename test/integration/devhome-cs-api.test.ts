// The CS API with plain HTTP: tokens and scopes, devices (percent-encoded ids), bad input → the spec's
// errcodes (never a 500), signature checks on uploaded keys, UIA for replacing cross-signing keys,
// key backup versions, to-device delivery through /sync and its long-poll. Route logic through
// fastify's inject; closing with a long-poll pending, on a real socket.
import { afterAll, beforeAll, describe, expect, test } from "@jest/globals";
import { ed25519 } from "@noble/curves/ed25519.js";
import { canonicalJson } from "../../server/devhome/cs/json.js";
import { injectRequest } from "../support/inject.js";
import { API_SCOPE, buildCsHarness, deviceScope, startCsHarness } from "./cs-harness.js";
import type { CsApp } from "./cs-harness.js";

// Response bodies are walked freely in assertions.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type AnyJson = any;

const ALICE = "@alice:localhost";
const BOB = "@bob:localhost";
let h: CsApp;

const b64 = (u: Uint8Array): string => Buffer.from(u).toString("base64").replace(/=+$/, "");

interface Key {
  priv: Uint8Array;
  pub: string;
}
function newKey(): Key {
  const priv = ed25519.utils.randomSecretKey();
  return { priv, pub: b64(ed25519.getPublicKey(priv)) };
}
function sign<T extends Record<string, unknown>>(obj: T, userId: string, keyId: string, key: Key): T {
  const { signatures, unsigned: _u, ...rest } = obj as Record<string, unknown>;
  const sig = b64(ed25519.sign(new TextEncoder().encode(canonicalJson(rest)), key.priv));
  const sigs = { ...((signatures as Record<string, Record<string, string>>) ?? {}) };
  sigs[userId] = { ...(sigs[userId] ?? {}), [keyId]: sig };
  return { ...obj, signatures: sigs };
}

async function call(method: string, path: string, token?: string, body?: unknown, raw?: string | Buffer, headers: Record<string, string> = {}) {
  const sent: Record<string, string> = { ...headers };
  if (token) sent.authorization = `Bearer ${token}`;
  if (raw === undefined && body !== undefined) sent["content-type"] = "application/json";
  const r = await injectRequest(h.app, method, path, sent, raw ?? (body !== undefined ? JSON.stringify(body) : undefined));
  let json: AnyJson;
  try {
    json = JSON.parse(r.text);
  } catch {
    json = r.text;
  }
  return { status: r.status, json };
}

async function login(userId: string, deviceId: string): Promise<string> {
  return (await h.auth.issueDeviceToken({ userId, deviceId })).access_token;
}

function deviceKeys(userId: string, deviceId: string, key: Key) {
  return sign(
    {
      user_id: userId,
      device_id: deviceId,
      algorithms: ["m.olm.v1.curve25519-aes-sha2", "m.megolm.v1.aes-sha2"],
      keys: { [`ed25519:${deviceId}`]: key.pub, [`curve25519:${deviceId}`]: b64(new Uint8Array(32).fill(7)) },
    },
    userId,
    `ed25519:${deviceId}`,
    key,
  );
}

function crossKey(userId: string, usage: string, key: Key) {
  return { user_id: userId, usage: [usage], keys: { [`ed25519:${key.pub}`]: key.pub } };
}

beforeAll(async () => {
  h = await buildCsHarness();
});
afterAll(async () => {
  await h.close();
});

describe("authentication", () => {
  test("/versions is public and lists v1.15", async () => {
    const r = await call("GET", "/_matrix/client/versions");
    expect(r.status).toBe(200);
    expect(r.json.versions).toContain("v1.15");
  });

  test("missing, unknown and wrongly scoped tokens", async () => {
    expect(await call("GET", "/_matrix/client/v3/account/whoami")).toMatchObject({ status: 401, json: { errcode: "M_MISSING_TOKEN" } });
    expect(await call("GET", "/_matrix/client/v3/account/whoami", "nope")).toMatchObject({ status: 401, json: { errcode: "M_UNKNOWN_TOKEN" } });
    const r = await injectRequest(h.app, "GET", "/_matrix/client/v3/account/whoami", { authorization: "Basic abc" });
    expect(r.status).toBe(401);
    // A token without the Client-Server API scope (only the device scope) is not an API token.
    const noApi = h.auth.issueWithScopes(ALICE, "SCOPELESS1", [deviceScope("SCOPELESS1")]);
    await h.cs.devices.ensureDevice(ALICE, "SCOPELESS1");
    expect(await call("GET", "/_matrix/client/v3/account/whoami", noApi)).toMatchObject({ status: 401, json: { errcode: "M_UNKNOWN_TOKEN" } });
    // A token for a device the server does not know (never ensured) is refused too.
    const ghost = h.auth.issueWithScopes(ALICE, "GHOSTDEV01", [API_SCOPE, deviceScope("GHOSTDEV01")]);
    expect(await call("GET", "/_matrix/client/v3/account/whoami", ghost)).toMatchObject({ status: 401, json: { errcode: "M_UNKNOWN_TOKEN" } });
    // The unstable scope form is accepted.
    const unstable = h.auth.issueWithScopes(ALICE, "UNSTABLE01", ["urn:matrix:org.matrix.msc2967.client:api:*"]);
    await h.cs.devices.ensureDevice(ALICE, "UNSTABLE01");
    expect(await call("GET", "/_matrix/client/v3/account/whoami", unstable)).toMatchObject({ status: 200, json: { device_id: "UNSTABLE01" } });
  });

  test("CORS: preflight without a token, and the header on answers", async () => {
    const pre = await injectRequest(h.app, "OPTIONS", "/_matrix/client/v3/keys/query", {
      origin: "https://app.example", "access-control-request-method": "POST", "access-control-request-headers": "authorization,content-type",
    });
    expect(pre.status).toBeLessThan(300);
    expect(pre.headers.get("access-control-allow-origin")).toBe("*");
    expect(pre.headers.get("access-control-allow-headers")?.toLowerCase()).toContain("authorization");
    const r = await injectRequest(h.app, "GET", "/_matrix/client/v3/account/whoami", { origin: "https://app.example" });
    expect(r.status).toBe(401);
    expect(r.headers.get("access-control-allow-origin")).toBe("*");
  });

  test("whoami; unknown endpoints are 404 M_UNRECOGNIZED with or without a token", async () => {
    const t = await login(ALICE, "WHOAMIDEV1");
    expect(await call("GET", "/_matrix/client/v3/account/whoami", t)).toEqual({
      status: 200,
      json: { user_id: ALICE, device_id: "WHOAMIDEV1", is_guest: false },
    });
    expect(await call("GET", "/_matrix/client/v3/nothing/here", t)).toMatchObject({ status: 404, json: { errcode: "M_UNRECOGNIZED" } });
    expect(await call("GET", "/_matrix/client/v3/nothing/here")).toMatchObject({ status: 404, json: { errcode: "M_UNRECOGNIZED" } });
    expect(await call("PATCH", "/_matrix/client/v3/account/whoami", t)).toMatchObject({ status: 404, json: { errcode: "M_UNRECOGNIZED" } });
  });
});

describe("devices", () => {
  // Element X uses 43-character base64 device ids; they are percent-encoded in paths.
  const EX = "q3Tx/Lm+9a0bZ8yWv1C2d3E4f5G6h7I8j9K0lMnOpQ=";

  test("a device exists once ensured; list, get, rename, delete; percent-encoded ids", async () => {
    const t = await login(ALICE, "LISTER0001");
    await h.cs.devices.ensureDevice(ALICE, EX, "Element X");
    const path = `/_matrix/client/v3/devices/${encodeURIComponent(EX)}`;
    expect(await call("GET", path, t)).toMatchObject({ status: 200, json: { device_id: EX, display_name: "Element X" } });
    expect((await call("GET", "/_matrix/client/v3/devices", t)).json.devices.map((d: AnyJson) => d.device_id)).toEqual(
      expect.arrayContaining([EX, "LISTER0001"]),
    );
    expect(await call("PUT", path, t, { display_name: "renamed" })).toEqual({ status: 200, json: {} });
    expect((await call("GET", path, t)).json.display_name).toBe("renamed");
    expect(await call("PUT", path, t, { display_name: 5 })).toMatchObject({ status: 400, json: { errcode: "M_BAD_JSON" } });
    expect(await call("GET", "/_matrix/client/v3/devices/UNKNOWNDEV", t)).toMatchObject({ status: 404, json: { errcode: "M_NOT_FOUND" } });
    expect(await call("PUT", "/_matrix/client/v3/devices/UNKNOWNDEV", t, {})).toMatchObject({ status: 404, json: { errcode: "M_NOT_FOUND" } });
    // Another user's device is not visible.
    const bob = await login(BOB, "BOBDEVICE1");
    expect(await call("GET", path, bob)).toMatchObject({ status: 404, json: { errcode: "M_NOT_FOUND" } });

    const ext = await login(ALICE, EX);
    expect(await call("GET", "/_matrix/client/v3/account/whoami", ext)).toMatchObject({ status: 200, json: { device_id: EX } });
    expect(await call("DELETE", path, t)).toEqual({ status: 200, json: {} });
    expect(h.auth.revoked).toContain(`${ALICE}|${EX}`);
    expect(await call("GET", path, t)).toMatchObject({ status: 404, json: { errcode: "M_NOT_FOUND" } });
    expect(await call("GET", "/_matrix/client/v3/account/whoami", ext)).toMatchObject({ status: 401, json: { errcode: "M_UNKNOWN_TOKEN" } });
  });
});

describe("malformed requests", () => {
  let t: string;
  beforeAll(async () => {
    t = await login(ALICE, "MALFORMED1");
  });

  test("not JSON, wrong JSON type, invalid UTF-8, empty body, oversized body", async () => {
    const j = { "content-type": "application/json" };
    expect(await call("POST", "/_matrix/client/v3/keys/query", t, undefined, "{nope", j)).toMatchObject({ status: 400, json: { errcode: "M_NOT_JSON" } });
    expect(await call("POST", "/_matrix/client/v3/keys/query", t, undefined, "[1,2]", j)).toMatchObject({ status: 400, json: { errcode: "M_BAD_JSON" } });
    expect(await call("POST", "/_matrix/client/v3/keys/query", t, undefined, Buffer.from([0x7b, 0xff, 0x7d]), j)).toMatchObject({ status: 400, json: { errcode: "M_NOT_JSON" } });
    expect(await call("POST", "/_matrix/client/v3/keys/query", t, undefined, "", j)).toMatchObject({ status: 400, json: { errcode: "M_NOT_JSON" } });
    expect(await call("POST", "/_matrix/client/v3/keys/query", t, undefined, "{}", { "content-type": "text/plain" })).toMatchObject({ status: 400, json: { errcode: "M_BAD_JSON" } });
    const big = JSON.stringify({ device_keys: {}, pad: "x".repeat(300 * 1024) });
    expect(await call("POST", "/_matrix/client/v3/keys/query", t, undefined, big, j)).toMatchObject({ status: 413, json: { errcode: "M_TOO_LARGE" } });
    // Authentication comes before the body: a bad token with a bad body is a 401.
    expect(await call("POST", "/_matrix/client/v3/keys/query", "bad", undefined, "{nope", j)).toMatchObject({ status: 401 });
  });

  test("fuzzed bodies on every write endpoint never produce a 500", async () => {
    const endpoints = [
      ["POST", "/_matrix/client/v3/keys/upload"],
      ["POST", "/_matrix/client/v3/keys/query"],
      ["POST", "/_matrix/client/v3/keys/claim"],
      ["POST", "/_matrix/client/v3/keys/signatures/upload"],
      ["POST", "/_matrix/client/v3/keys/device_signing/upload"],
      ["POST", "/_matrix/client/v3/room_keys/version"],
      ["PUT", "/_matrix/client/v3/room_keys/version/1"],
      ["PUT", "/_matrix/client/v3/room_keys/keys?version=1"],
      ["PUT", "/_matrix/client/v3/room_keys/keys/!r:x/s?version=1"],
      ["PUT", `/_matrix/client/v3/user/${encodeURIComponent(ALICE)}/account_data/m.x`],
      ["POST", `/_matrix/client/v3/user/${encodeURIComponent(ALICE)}/filter`],
      ["PUT", "/_matrix/client/v3/sendToDevice/m.test/fuzz"],
      ["PUT", "/_matrix/client/v3/devices/MALFORMED1"],
    ] as const;
    const values: unknown[] = [null, 1, 1.5, "s", true, [], {}, [1, "a"], { a: null }, { x: { y: [] } }];
    const keys = ["device_keys", "one_time_keys", "fallback_keys", "master_key", "self_signing_key", "user_signing_key", "rooms", "sessions", "messages", "algorithm", "auth_data", "display_name", "first_message_index", "user_id", "keys", "signatures", "usage", ALICE];
    let seed = 42;
    const rnd = (n: number): number => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed % n;
    };
    const gen = (depth: number): unknown => {
      if (depth > 2 || rnd(3) === 0) return values[rnd(values.length)];
      const o: Record<string, unknown> = {};
      for (let i = rnd(4); i >= 0; i--) o[keys[rnd(keys.length)]!] = gen(depth + 1);
      return o;
    };
    const statuses = new Set<number>();
    for (let i = 0; i < 300; i++) {
      const [method, path] = endpoints[i % endpoints.length]!;
      const r = await call(method, path.replace("fuzz", `fuzz${i}`), t, gen(0));
      statuses.add(r.status);
      expect(r.status).toBeLessThan(500);
      if (r.status >= 400) expect(typeof r.json.errcode).toBe("string");
    }
    expect(statuses.has(400)).toBe(true);
  });
});

describe("keys", () => {
  const devKey = newKey();
  const master = newKey();
  const ssk = newKey();
  const usk = newKey();
  let t: string;
  beforeAll(async () => {
    t = await login(ALICE, "KEYSDEV001");
  });

  test("device keys: signature and ownership are checked", async () => {
    const dk = deviceKeys(ALICE, "KEYSDEV001", devKey);
    const forged = { ...dk, keys: { ...dk.keys, "curve25519:KEYSDEV001": b64(new Uint8Array(32).fill(9)) } };
    expect(await call("POST", "/_matrix/client/v3/keys/upload", t, { device_keys: forged })).toMatchObject({ status: 400, json: { errcode: "M_INVALID_SIGNATURE" } });
    const other = deviceKeys(ALICE, "OTHERDEV01", devKey);
    expect(await call("POST", "/_matrix/client/v3/keys/upload", t, { device_keys: other })).toMatchObject({ status: 400, json: { errcode: "M_INVALID_PARAM" } });
    expect(await call("POST", "/_matrix/client/v3/keys/upload", t, { device_keys: dk })).toEqual({ status: 200, json: { one_time_key_counts: {} } });
  });

  test("one-time and fallback keys: signed, counted, claimed once, then the fallback", async () => {
    const otk = (id: string, extra: Record<string, unknown> = {}) =>
      sign({ key: b64(new Uint8Array(32).fill(id.charCodeAt(0))), ...extra }, ALICE, "ed25519:KEYSDEV001", devKey);
    const badOtk = { key: "AAAA", signatures: { [ALICE]: { "ed25519:KEYSDEV001": b64(new Uint8Array(64)) } } };
    expect(await call("POST", "/_matrix/client/v3/keys/upload", t, { one_time_keys: { "signed_curve25519:AAAAAQ": badOtk } })).toMatchObject({
      status: 400,
      json: { errcode: "M_INVALID_SIGNATURE" },
    });
    const up = await call("POST", "/_matrix/client/v3/keys/upload", t, {
      one_time_keys: { "signed_curve25519:AAAAAQ": otk("a"), "signed_curve25519:AAAAAg": otk("b") },
      fallback_keys: { "signed_curve25519:AAAAAw": otk("c", { fallback: true }) },
    });
    expect(up).toEqual({ status: 200, json: { one_time_key_counts: { signed_curve25519: 2 } } });
    // Same id, different key: refused.
    expect(await call("POST", "/_matrix/client/v3/keys/upload", t, { one_time_keys: { "signed_curve25519:AAAAAQ": otk("z") } })).toMatchObject({
      status: 400,
      json: { errcode: "M_INVALID_PARAM" },
    });
    const bob = await login(BOB, "BOBCLAIMER");
    const claim = () => call("POST", "/_matrix/client/v3/keys/claim", bob, { one_time_keys: { [ALICE]: { KEYSDEV001: "signed_curve25519" } } });
    const got = [await claim(), await claim(), await claim(), await claim()].map((r) => Object.keys(r.json.one_time_keys[ALICE].KEYSDEV001)[0]);
    expect(got).toEqual(["signed_curve25519:AAAAAQ", "signed_curve25519:AAAAAg", "signed_curve25519:AAAAAw", "signed_curve25519:AAAAAw"]);
    const sync = await call("GET", "/_matrix/client/v3/sync", t);
    expect(sync.json.device_one_time_keys_count).toEqual({ signed_curve25519: 0 });
    expect(sync.json.device_unused_fallback_key_types).toEqual([]);
  });

  test("new device keys on the same device id (a restored client) void the old account's one-time keys", async () => {
    const t2 = await login(ALICE, "RESTORED01");
    const k1 = newKey();
    const k2 = newKey();
    const otk = (k: Key) => sign({ key: b64(new Uint8Array(32).fill(1)) }, ALICE, "ed25519:RESTORED01", k);
    expect((await call("POST", "/_matrix/client/v3/keys/upload", t2, { device_keys: deviceKeys(ALICE, "RESTORED01", k1), one_time_keys: { "signed_curve25519:AAAAAQ": otk(k1) } })).status).toBe(200);
    // Same key id from the same account with other content: a collision.
    expect((await call("POST", "/_matrix/client/v3/keys/upload", t2, { one_time_keys: { "signed_curve25519:AAAAAQ": sign({ key: "Zm9v" }, ALICE, "ed25519:RESTORED01", k1) } })).status).toBe(400);
    // A new account (new identity key) restarts its key ids: accepted, and the old key is gone.
    const up = await call("POST", "/_matrix/client/v3/keys/upload", t2, { device_keys: deviceKeys(ALICE, "RESTORED01", k2), one_time_keys: { "signed_curve25519:AAAAAQ": otk(k2) } });
    expect(up).toEqual({ status: 200, json: { one_time_key_counts: { signed_curve25519: 1 } } });
    const claimed = await call("POST", "/_matrix/client/v3/keys/claim", t2, { one_time_keys: { [ALICE]: { RESTORED01: "signed_curve25519" } } });
    expect(claimed.json.one_time_keys[ALICE].RESTORED01["signed_curve25519:AAAAAQ"]).toEqual(otk(k2));
  });

  test("cross-signing keys: must be signed by the master key; replacing needs approval (UIA)", async () => {
    const m = sign(crossKey(ALICE, "master", master), ALICE, "ed25519:KEYSDEV001", devKey);
    const s = sign(crossKey(ALICE, "self_signing", ssk), ALICE, `ed25519:${master.pub}`, master);
    const u = sign(crossKey(ALICE, "user_signing", usk), ALICE, `ed25519:${master.pub}`, master);
    const sBad = sign(crossKey(ALICE, "self_signing", ssk), ALICE, `ed25519:${master.pub}`, usk);
    const up = (b: unknown) => call("POST", "/_matrix/client/v3/keys/device_signing/upload", t, b);
    expect(await up({ self_signing_key: s })).toMatchObject({ status: 400, json: { errcode: "M_MISSING_PARAM" } });
    expect(await up({ master_key: m, self_signing_key: sBad, user_signing_key: u })).toMatchObject({ status: 400, json: { errcode: "M_INVALID_SIGNATURE" } });
    expect(await up({ master_key: { ...m, usage: ["self_signing"] } })).toMatchObject({ status: 400, json: { errcode: "M_INVALID_PARAM" } });
    expect(await up({ master_key: crossKey(BOB, "master", master) })).toMatchObject({ status: 400, json: { errcode: "M_INVALID_PARAM" } });
    const forgedDeviceSig = { ...m, signatures: { [ALICE]: { "ed25519:KEYSDEV001": b64(new Uint8Array(64).fill(1)) } } };
    expect(await up({ master_key: forgedDeviceSig })).toMatchObject({ status: 400, json: { errcode: "M_INVALID_SIGNATURE" } });
    // First identity: no UIA. Identical re-upload (a retry): no UIA.
    expect(await up({ master_key: m, self_signing_key: s, user_signing_key: u })).toEqual({ status: 200, json: {} });
    expect(await up({ master_key: m, self_signing_key: s, user_signing_key: u })).toEqual({ status: 200, json: {} });
    // Replacing: 401 with UIA flows until the user approves out of band.
    const master2 = newKey();
    const m2 = crossKey(ALICE, "master", master2);
    const s2 = sign(crossKey(ALICE, "self_signing", newKey()), ALICE, `ed25519:${master2.pub}`, master2);
    const denied = await up({ master_key: m2, self_signing_key: s2 });
    expect(denied.status).toBe(401);
    expect(denied.json.flows).toEqual(expect.arrayContaining([{ stages: ["m.oauth"] }]));
    expect(typeof denied.json.session).toBe("string");
    expect(typeof denied.json.params["m.oauth"].url).toBe("string");
    const q = await call("POST", "/_matrix/client/v3/keys/query", t, { device_keys: { [ALICE]: [] } });
    expect(q.json.master_keys[ALICE].keys).toEqual({ [`ed25519:${master.pub}`]: master.pub });
  });

  test("signatures/upload: SSK signs a device; bad signatures are per-key failures", async () => {
    const dk = deviceKeys(ALICE, "KEYSDEV001", devKey);
    const good = sign(dk, ALICE, `ed25519:${ssk.pub}`, ssk);
    const bad = sign(dk, ALICE, `ed25519:${ssk.pub}`, usk);
    let r = await call("POST", "/_matrix/client/v3/keys/signatures/upload", t, { [ALICE]: { KEYSDEV001: bad } });
    expect(r).toMatchObject({ status: 200, json: { failures: { [ALICE]: { KEYSDEV001: { errcode: "M_INVALID_SIGNATURE" } } } } });
    r = await call("POST", "/_matrix/client/v3/keys/signatures/upload", t, { [ALICE]: { KEYSDEV001: good, NOSUCHDEV1: good } });
    expect(r.status).toBe(200);
    expect(Object.keys(r.json.failures[ALICE])).toEqual(["NOSUCHDEV1"]);
    const bob = await login(BOB, "BOBQUERY01");
    const q = await call("POST", "/_matrix/client/v3/keys/query", bob, { device_keys: { [ALICE]: ["KEYSDEV001"] } });
    expect(q.json.device_keys[ALICE].KEYSDEV001.signatures[ALICE][`ed25519:${ssk.pub}`]).toBe((good as AnyJson).signatures[ALICE][`ed25519:${ssk.pub}`]);
    expect(q.json.self_signing_keys[ALICE]).toBeDefined();
    // The user-signing key is only shown to its owner.
    expect(q.json.user_signing_keys[ALICE]).toBeUndefined();
    // A changed object (not what is stored) is refused.
    const altered = sign({ ...dk, algorithms: ["x"] }, ALICE, `ed25519:${ssk.pub}`, ssk);
    r = await call("POST", "/_matrix/client/v3/keys/signatures/upload", t, { [ALICE]: { KEYSDEV001: altered } });
    expect(r.json.failures[ALICE].KEYSDEV001.errcode).toBe("M_INVALID_PARAM");
  });

  test("after approval the identity can be replaced and old SSK signatures are dropped", async () => {
    const master2 = newKey();
    const ssk2 = newKey();
    const m2 = crossKey(ALICE, "master", master2);
    const s2 = sign(crossKey(ALICE, "self_signing", ssk2), ALICE, `ed25519:${master2.pub}`, master2);
    h.cs.allowCrossSigningReset(ALICE);
    expect(await call("POST", "/_matrix/client/v3/keys/device_signing/upload", t, { master_key: m2, self_signing_key: s2 })).toEqual({ status: 200, json: {} });
    const q = await call("POST", "/_matrix/client/v3/keys/query", t, { device_keys: { [ALICE]: ["KEYSDEV001"] } });
    expect(q.json.master_keys[ALICE].keys).toEqual({ [`ed25519:${master2.pub}`]: master2.pub });
    expect(Object.keys(q.json.device_keys[ALICE].KEYSDEV001.signatures[ALICE])).toEqual(["ed25519:KEYSDEV001"]);
    // The approval is used up.
    const m3 = crossKey(ALICE, "master", newKey());
    expect((await call("POST", "/_matrix/client/v3/keys/device_signing/upload", t, { master_key: m3 })).status).toBe(401);
  });
});

describe("account data, backup, to-device and sync", () => {
  test("account data is per user", async () => {
    const t = await login(ALICE, "ACCOUNTDV1");
    const bob = await login(BOB, "BOBACCOUNT");
    const path = `/_matrix/client/v3/user/${encodeURIComponent(ALICE)}/account_data/m.secret_storage.default_key`;
    expect(await call("GET", path, t)).toMatchObject({ status: 404, json: { errcode: "M_NOT_FOUND" } });
    expect(await call("PUT", path, t, { key: "abc" })).toEqual({ status: 200, json: {} });
    expect(await call("GET", path, t)).toEqual({ status: 200, json: { key: "abc" } });
    expect(await call("GET", path, bob)).toMatchObject({ status: 403, json: { errcode: "M_FORBIDDEN" } });
    expect(await call("PUT", path, bob, { key: "x" })).toMatchObject({ status: 403, json: { errcode: "M_FORBIDDEN" } });
    const sync = await call("GET", "/_matrix/client/v3/sync", t);
    expect(sync.json.account_data.events).toContainEqual({ type: "m.secret_storage.default_key", content: { key: "abc" } });
  });

  test("backup versions and keys: current version, wrong version, replacement rule", async () => {
    const t = await login("@carol:localhost", "CAROLDEV01");
    const auth_data = { public_key: "abc", signatures: {} };
    expect(await call("GET", "/_matrix/client/v3/room_keys/version", t)).toMatchObject({ status: 404, json: { errcode: "M_NOT_FOUND" } });
    expect(await call("POST", "/_matrix/client/v3/room_keys/version", t, { algorithm: "m.megolm_backup.v1.curve25519-aes-sha2", auth_data })).toEqual({
      status: 200,
      json: { version: "1" },
    });
    expect((await call("POST", "/_matrix/client/v3/room_keys/version", t, { algorithm: "m.megolm_backup.v1.curve25519-aes-sha2", auth_data })).json.version).toBe("2");
    expect((await call("GET", "/_matrix/client/v3/room_keys/version", t)).json).toMatchObject({ version: "2", count: 0, auth_data });
    expect((await call("GET", "/_matrix/client/v3/room_keys/version/1", t)).json.version).toBe("1");
    expect(await call("GET", "/_matrix/client/v3/room_keys/version/9", t)).toMatchObject({ status: 404, json: { errcode: "M_NOT_FOUND" } });
    expect(await call("PUT", "/_matrix/client/v3/room_keys/version/2", t, { algorithm: "other", auth_data })).toMatchObject({ status: 400 });
    expect(await call("PUT", "/_matrix/client/v3/room_keys/version/2", t, { algorithm: "m.megolm_backup.v1.curve25519-aes-sha2", auth_data: { ...auth_data, x: 1 } })).toEqual({ status: 200, json: {} });

    const kd = (idx: number, verified: boolean) => ({ first_message_index: idx, forwarded_count: 0, is_verified: verified, session_data: { ciphertext: `c${idx}${verified}` } });
    const put = (v: string, d: unknown) => call("PUT", `/_matrix/client/v3/room_keys/keys?version=${v}`, t, { rooms: { "!r:localhost": { sessions: { sess: d } } } });
    expect(await put("1", kd(5, false))).toMatchObject({ status: 403, json: { errcode: "M_WRONG_ROOM_KEYS_VERSION", current_version: "2" } });
    expect(await put("2", kd(5, false))).toMatchObject({ status: 200, json: { count: 1 } });
    expect((await put("2", kd(9, false))).json.count).toBe(1);
    const one = await call("GET", "/_matrix/client/v3/room_keys/keys/!r%3Alocalhost/sess?version=2", t);
    expect(one.json.first_message_index).toBe(5); // the worse key did not replace the better one
    await put("2", kd(9, true)); // verified beats unverified
    expect((await call("GET", "/_matrix/client/v3/room_keys/keys?version=2", t)).json.rooms["!r:localhost"].sessions.sess.is_verified).toBe(true);
    expect(await call("GET", "/_matrix/client/v3/room_keys/keys/!r%3Alocalhost/none?version=2", t)).toMatchObject({ status: 404, json: { errcode: "M_NOT_FOUND" } });
    expect(await call("PUT", "/_matrix/client/v3/room_keys/keys", t, { rooms: {} })).toMatchObject({ status: 400, json: { errcode: "M_MISSING_PARAM" } });
    expect((await call("GET", "/_matrix/client/v3/room_keys/version", t)).json.count).toBe(1);
  });

  test("to-device messages arrive through /sync once, with device list changes; long-poll wakes up", async () => {
    const a = await login("@dave:localhost", "DAVEDEV001");
    const b = await login("@dave:localhost", "DAVEDEV002");
    const first = await call("GET", "/_matrix/client/v3/sync", b);
    expect(first.status).toBe(200);
    const since = first.json.next_batch as string;
    const started = Date.now();
    const waiting = call("GET", `/_matrix/client/v3/sync?since=${since}&timeout=10000`, b);
    await new Promise((r) => setTimeout(r, 200));
    const msg = { messages: { "@dave:localhost": { DAVEDEV002: { hello: 1 } } } };
    expect(await call("PUT", "/_matrix/client/v3/sendToDevice/m.test/txn1", a, msg)).toEqual({ status: 200, json: {} });
    expect(await call("PUT", "/_matrix/client/v3/sendToDevice/m.test/txn1", a, msg)).toEqual({ status: 200, json: {} }); // retry
    const woke = await waiting;
    expect(Date.now() - started).toBeLessThan(5000);
    expect(woke.json.to_device.events).toEqual([{ type: "m.test", sender: "@dave:localhost", content: { hello: 1 } }]);
    // The same since gives the message again (not acknowledged yet); the next since does not.
    expect((await call("GET", `/_matrix/client/v3/sync?since=${since}`, b)).json.to_device.events).toHaveLength(1);
    const after = await call("GET", `/_matrix/client/v3/sync?since=${woke.json.next_batch}`, b);
    expect(after.json.to_device.events).toEqual([]);
    // A new device of the same user shows up in device_lists.changed.
    await login("@dave:localhost", "DAVEDEV003");
    const changed = await call("GET", `/_matrix/client/v3/sync?since=${after.json.next_batch}`, b);
    expect(changed.json.device_lists.changed).toContain("@dave:localhost");
    expect(await call("GET", "/_matrix/client/v3/sync?since=abc", b)).toMatchObject({ status: 400, json: { errcode: "M_INVALID_PARAM" } });
  });
});

test("closing the server releases pending long-polls promptly", async () => {
  const h2 = await startCsHarness();
  const { access_token } = await h2.auth.issueDeviceToken({ userId: ALICE, deviceId: "LONGPOLL01" });
  const first = (await (await fetch(`${h2.baseUrl}/_matrix/client/v3/sync`, { headers: { authorization: `Bearer ${access_token}` } })).json()) as AnyJson;
  const pending = fetch(`${h2.baseUrl}/_matrix/client/v3/sync?since=${first.next_batch}&timeout=25000`, { headers: { authorization: `Bearer ${access_token}` } });
  await new Promise((r) => setTimeout(r, 200));
  const started = Date.now();
  await h2.close();
  expect(Date.now() - started).toBeLessThan(3000);
  const r = await pending;
  expect(r.status).toBe(200);
  expect(((await r.json()) as AnyJson).to_device.events).toEqual([]);
});
