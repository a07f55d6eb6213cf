// Spawns the built CLI (jest's global setup runs the build) for the `qr` contract.
import { execFile } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import * as wasm from "@matrix-org/matrix-sdk-crypto-wasm";
import { REPO_ROOT, fixturePath, vector } from "../support/fixtures.js";

function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [path.join(REPO_ROOT, "bin/qr-login.js"), ...args], { cwd: REPO_ROOT, timeout: 45_000 }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === "number" ? err.code : 1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

const tmp = mkdtempSync(path.join(tmpdir(), "qr-cli-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const MSC_FIELDS = {
  type: 3,
  publicKey: "2IZoarIZe3gOMAqdSiFHSAcA15KfOasxueUUNwJI7Ws",
  rendezvousId: "e8da6355-550b-4a32-a193-1619d9830668",
  baseUrl: "https://matrix-client.matrix.org",
  idLengthBytes: 1,
};

describe("qr-login qr decode", () => {
  test("hex, base64 and the MSC PNG, one JSON line each, exit 0", async () => {
    const hexArg = vector("msc4388-qr-intent00-stable").data.bytes_hex;
    const r1 = await cli(["qr", "decode", hexArg]);
    expect(r1.code).toBe(0);
    expect(r1.stdout.trim().split("\n")).toHaveLength(1);
    expect(JSON.parse(r1.stdout)).toEqual({ prefix: "MATRIX", intent: "login", ...MSC_FIELDS });
    // key order is part of the contract
    expect(Object.keys(JSON.parse(r1.stdout))).toEqual(["prefix", "type", "intent", "publicKey", "rendezvousId", "baseUrl", "idLengthBytes"]);

    const r2 = await cli(["qr", "decode", vector("rust-main-qr-code-data-base64").data.base64_unpadded]);
    expect(r2.code).toBe(0);
    expect(JSON.parse(r2.stdout)).toMatchObject({ prefix: "IO_ELEMENT_MSC4388", intent: "reciprocate", idLengthBytes: 2, rendezvousId: "01HX9K00Q1H6KPD47EG4G1T3XG" });

    const r3 = await cli(["qr", "decode", fixturePath("qr", "4388-qr-intent01-unstable.png")]);
    expect(r3.code).toBe(0);
    expect(JSON.parse(r3.stdout)).toEqual({ prefix: "IO_ELEMENT_MSC4388", intent: "reciprocate", ...MSC_FIELDS });
  }, 60_000);

  test("malformed payloads print {error, message} and exit 2", async () => {
    const cases: [string, string][] = [
      ["4d415452495803", "qr_too_short"],
      ["4d4154524958010000", "qr_invalid_type"],
      ["4d4154524958020000", "qr_invalid_intent"], // MSC4108 2024 (type 2) with mode 0x00
      ["not*base64", "invalid_base64"],
    ];
    const results = await Promise.all(cases.map(([arg]) => cli(["qr", "decode", arg])));
    cases.forEach(([, code], i) => {
      const r = results[i]!;
      expect(r.code).toBe(2);
      const out = JSON.parse(r.stdout);
      expect(out.error).toBe(code);
      expect(typeof out.message).toBe("string");
    });
    const notPng = path.join(tmp, "x.png");
    writeFileSync(notPng, "hello");
    const r = await cli(["qr", "decode", notPng]);
    expect(r.code).toBe(2);
    expect(JSON.parse(r.stdout).error).toBe("qr_image_unreadable");
  }, 60_000);

  test("bytes after the URL are ignored (noted on stderr), as Rust does; --strict refuses them", async () => {
    const hexArg = vector("msc4388-qr-intent00-stable").data.bytes_hex + "00ff";
    const legacyArg = vector("rust-main-qr-code-data-login").data.bytes_hex + "00";
    const [lax, legacy, strict, strictClean] = await Promise.all([
      cli(["qr", "decode", hexArg]),
      cli(["qr", "decode", legacyArg]),
      cli(["qr", "decode", "--strict", hexArg]),
      cli(["qr", "decode", "--strict", vector("msc4388-qr-intent00-stable").data.bytes_hex]),
    ]);
    expect(lax.code).toBe(0);
    expect(JSON.parse(lax.stdout)).toEqual({ prefix: "MATRIX", intent: "login", ...MSC_FIELDS });
    expect(lax.stderr).toMatch(/2 byte\(s\) after the base URL ignored/);
    expect(legacy.code).toBe(0);
    expect(JSON.parse(legacy.stdout)).toEqual({ prefix: "IO_ELEMENT_MSC4388", intent: "login", ...MSC_FIELDS, idLengthBytes: 2 });
    expect(strict.code).toBe(2);
    expect(JSON.parse(strict.stdout).error).toBe("qr_trailing");
    expect(strictClean.code).toBe(0);
    expect(strictClean.stderr).toBe("");
  }, 60_000);

  test("usage errors exit 2", async () => {
    const runs = await Promise.all([
      cli(["qr", "decode"]),
      cli(["qr", "nope"]),
      cli(["qr", "encode", "--intent", "login"]),
      cli(["qr", "encode", "--intent", "login", "--key", MSC_FIELDS.publicKey, "--id", "x", "--url", "https://h", "--id-length", "3"]),
    ]);
    expect(runs.map((r) => r.code)).toEqual([2, 2, 2, 2]);
  }, 60_000);
});

describe("qr-login qr encode", () => {
  const key = "2IZoarIZe3gOMAqdSiFHSAcA15KfOasxueUUNwJI7Ws";
  const id = "e8da6355-550b-4a32-a193-1619d9830668";

  test("reproduces the MSC example (msc4388 profile), rust-sdk main's (default profile) and the MSC's unstable one (--id-length 1)", async () => {
    const a = await cli(["qr", "encode", "--intent", "login", "--key", key, "--id", id, "--url", "https://matrix-client.matrix.org/", "--profile", "msc4388"]);
    expect(a.code).toBe(0);
    expect(a.stdout.trim()).toBe(vector("msc4388-qr-intent00-stable").data.bytes_hex);
    const b = await cli(["qr", "encode", "--intent", "reciprocate", "--key", key, "--id", id, "--url", "https://matrix-client.matrix.org"]);
    expect(b.stdout.trim()).toBe(vector("rust-main-qr-code-data-reciprocate").data.bytes_hex);
    const c = await cli(["qr", "encode", "--intent", "reciprocate", "--key", key, "--id", id, "--url", "https://matrix-client.matrix.org", "--id-length", "1"]);
    expect(c.stdout.trim()).toBe(vector("msc4388-qr-intent01-unstable").data.bytes_hex);
  }, 60_000);

  test("encode → decode round trip, and --png → decode", async () => {
    const png = path.join(tmp, "qr.png");
    const e = await cli(["qr", "encode", "--intent", "reciprocate", "--key", key, "--id", "abc_123", "--url", "http://127.0.0.1:8008/hs/", "--png", png]);
    expect(e.code).toBe(0);
    const expected = { prefix: "IO_ELEMENT_MSC4388", type: 3, intent: "reciprocate", publicKey: key, rendezvousId: "abc_123", baseUrl: "http://127.0.0.1:8008/hs/", idLengthBytes: 2 };
    const fromHex = await cli(["qr", "decode", e.stdout.trim()]);
    expect(JSON.parse(fromHex.stdout)).toEqual(expected);
    const fromPng = await cli(["qr", "decode", png]);
    expect(fromPng.code).toBe(0);
    expect(JSON.parse(fromPng.stdout)).toEqual(expected);
  }, 60_000);

  test("bad key or id is a typed error, exit 2", async () => {
    const r = await cli(["qr", "encode", "--intent", "login", "--key", "AAAA", "--id", "x", "--url", "https://h"]);
    expect(r.code).toBe(2);
    expect(JSON.parse(r.stdout).error).toBe("qr_invalid_key");
    const r2 = await cli(["qr", "encode", "--intent", "login", "--key", key, "--id", "a/b", "--url", "https://h"]);
    expect(JSON.parse(r2.stdout).error).toBe("qr_invalid_rendezvous_id");
  }, 60_000);
});

describe("MSC4108 2024 QRs (MATRIX, type 2)", () => {
  const key = "2IZoarIZe3gOMAqdSiFHSAcA15KfOasxueUUNwJI7Ws";
  const url = "https://matrix-client.matrix.org/_synapse/client/rendezvous/01HX9K00Q1H6KPD47EG4G1T3XG";

  test("decode reads what crypto-wasm's QrCodeData (Element) writes, in the 2024 contract's fields and order", async () => {
    await wasm.initAsync();
    const login = Buffer.from(new wasm.QrCodeData(new wasm.Curve25519PublicKey(key), url, undefined).toBytes()).toString("hex");
    const recip = Buffer.from(new wasm.QrCodeData(new wasm.Curve25519PublicKey(key), url, "matrix.org").toBytes()).toString("hex");
    const [a, b] = await Promise.all([cli(["qr", "decode", login]), cli(["qr", "decode", recip])]);
    expect([a.code, b.code]).toEqual([0, 0]);
    expect(JSON.parse(a.stdout)).toEqual({ prefix: "MATRIX", type: 2, intent: "login", publicKey: key, rendezvousUrl: url });
    expect(Object.keys(JSON.parse(b.stdout))).toEqual(["prefix", "type", "intent", "publicKey", "rendezvousUrl", "serverName"]);
    expect(JSON.parse(b.stdout)).toEqual({ prefix: "MATRIX", type: 2, intent: "reciprocate", publicKey: key, rendezvousUrl: url, serverName: "matrix.org" });
  }, 60_000);

  test("encode --type 2 writes what QrCodeData reads, and the PNG decodes to the same", async () => {
    await wasm.initAsync();
    const png = path.join(tmp, "qr2024.png");
    const e = await cli(["qr", "encode", "--type", "2", "--intent", "reciprocate", "--key", key, "--rendezvous-url", url, "--server-name", "localhost:8448", "--png", png]);
    expect(e.code).toBe(0);
    const theirs = wasm.QrCodeData.fromBytes(new Uint8Array(Buffer.from(e.stdout.trim(), "hex")));
    expect([theirs.mode, theirs.publicKey.toBase64(), theirs.rendezvousUrl, theirs.serverName]).toEqual([wasm.QrCodeIntent.Reciprocate, key, url, "localhost:8448"]);
    const fromPng = await cli(["qr", "decode", png]);
    expect(JSON.parse(fromPng.stdout)).toMatchObject({ type: 2, intent: "reciprocate", serverName: "localhost:8448" });
  }, 60_000);

  test("usage: reciprocate needs --server-name (typed error), login refuses one; MSC4388 flags are refused with --type 2", async () => {
    const runs = await Promise.all([
      cli(["qr", "encode", "--type", "2", "--intent", "reciprocate", "--key", key, "--rendezvous-url", url]),
      cli(["qr", "encode", "--type", "2", "--intent", "login", "--key", key, "--rendezvous-url", url, "--server-name", "x.org"]),
      cli(["qr", "encode", "--type", "2", "--intent", "login", "--key", key, "--rendezvous-url", url, "--id", "abc"]),
      cli(["qr", "encode", "--type", "4", "--intent", "login", "--key", key, "--rendezvous-url", url]),
      cli(["qr", "encode", "--intent", "login", "--key", key, "--id", "abc", "--url", "https://h", "--server-name", "x.org"]),
    ]);
    expect(runs.map((r) => r.code)).toEqual([2, 2, 2, 2, 2]);
    expect(JSON.parse(runs[0]!.stdout).error).toBe("qr_invalid_server_name");
    expect(JSON.parse(runs[1]!.stdout).error).toBe("qr_invalid_server_name");
    expect(runs[2]!.stderr).toMatch(/--id belongs to the MSC4388 QR/);
    expect(runs[4]!.stderr).toMatch(/--server-name belongs to the MSC4108 2024 QR/);
  }, 60_000);
});
