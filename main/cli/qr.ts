// `qr-login qr decode|encode`: the sign-in QR payload codec on the command line, MSC4388 and (`--type 2`)
// MSC4108 2024 (docs/architecture.md "Contracts"). decode prints exactly one JSON line; a malformed
// payload prints {"error":"<code>","message":"..."} and exits 2. encode prints the payload as hex.
// decode reads what Element's Rust code reads: both id-length forms, and bytes after the base URL
// are ignored (said on stderr); --strict refuses them (qr_trailing), for checking an encoder.
import { existsSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { b64decode, hexDecode, hexEncode } from "../protocol/bytes.js";
import { ProtocolError } from "../protocol/errors.js";
import { DEFAULT_PROFILE, getProfile } from "../protocol/profile.js";
import { encodeQr, qrDataToJson } from "../protocol/qr.js";
import { decodeQrPng, QrImageError, writeQrPngFile } from "./qr-image.js";
import { decodeAnyQr, encodeQr2024, qr2024ToJson } from "../protocol-2024/qr.js";
import { parseCommandArgs, UsageError } from "./args.js";

export const summary = "qr decode <hex|base64|file.png> | qr encode [--type 2] --intent I --key B64 ...: sign-in QR payloads (MSC4388, MSC4108 2024)";

const USAGE_2024 = [
  "  qr-login qr encode --type 2 --intent login|reciprocate --key <base64> --rendezvous-url <url>",
  "                     [--server-name <name>] [--png FILE]",
  "      (MSC4108 2024; --server-name is required for reciprocate, where it names the homeserver)",
].join("\n");

const USAGE = [
  "usage:",
  "  qr-login qr decode [--strict] <hex | base64 | file.png>",
  "  qr-login qr encode --intent login|reciprocate --key <base64> --id <rendezvous id> --url <base url>",
  "                     [--profile element-2026|msc4388] [--png FILE] [--id-length 1|2]",
  USAGE_2024,
  "",
  "decode prints one JSON object: prefix, type, intent, publicKey, rendezvousId, baseUrl, idLengthBytes;",
  "for an MSC4108 2024 QR (MATRIX, type 2): prefix, type, intent, publicKey, rendezvousUrl, serverName (reciprocate);",
  'a malformed payload prints {"error":"<code>","message":"..."} and exits 2. Both rendezvous-id length',
  "forms are read; bytes after the last field are ignored as Element's Rust parser does (--strict: refused).",
  `encode prints the payload as hex, with the prefix and id-length form of the profile (default ${DEFAULT_PROFILE}:`,
  "IO_ELEMENT_MSC4388, 2-byte id length; msc4388: MATRIX, 1-byte); --id-length overrides the form;",
  "--png also writes a QR image (byte mode, EC level Q).",
].join("\n");

const PNG_SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];

function printError(code: string, message: string): number {
  process.stdout.write(`${JSON.stringify({ error: code, message })}\n`);
  return 2;
}

function isPng(bytes: Uint8Array): boolean {
  return bytes.length >= 8 && PNG_SIGNATURE.every((b, i) => bytes[i] === b);
}

/** The payload bytes of the argument: a PNG file, hex, or base64 (standard, padded or not). */
async function readPayload(arg: string): Promise<Uint8Array> {
  if (/\.png$/i.test(arg) || (existsSync(arg) && !/^[0-9a-fA-F]+$/.test(arg))) {
    let file: Uint8Array;
    try {
      file = await readFile(arg);
    } catch (cause) {
      throw new QrImageError("qr_image_unreadable", `cannot read ${arg}: ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
    }
    if (!isPng(file)) throw new QrImageError("qr_image_unreadable", `${arg} is not a PNG image`);
    return decodeQrPng(file);
  }
  const text = arg.trim();
  if (text.length > 0 && text.length % 2 === 0 && /^[0-9a-fA-F]+$/.test(text)) return hexDecode(text);
  try {
    return b64decode(text);
  } catch (cause) {
    throw new ProtocolError("invalid_base64", "the payload is neither hex, base64, nor a PNG file", { cause });
  }
}

async function decode(args: string[]): Promise<number> {
  const { values, positionals } = parseCommandArgs(args, { strict: { type: "boolean" }, help: { type: "boolean" } });
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  if (positionals.length !== 1) throw new UsageError(`decode takes one payload argument\n${USAGE}`);
  try {
    const qr = decodeAnyQr(await readPayload(positionals[0]!), { strict: values.strict === true });
    if (qr.version === "2025" && qr.qr.trailingBytes > 0) process.stderr.write(`note: ${qr.qr.trailingBytes} byte(s) after the base URL ignored (--strict refuses them)\n`);
    process.stdout.write(`${JSON.stringify(qr.version === "2024" ? qr2024ToJson(qr.qr) : qrDataToJson(qr.qr))}\n`);
    return 0;
  } catch (err) {
    if (err instanceof ProtocolError || err instanceof QrImageError) return printError(err.code, err.message);
    throw err;
  }
}

const ENCODE_OPTIONS = {
  type: { type: "string" }, intent: { type: "string" }, key: { type: "string" }, png: { type: "string" },
  // MSC4388 (type 3)
  id: { type: "string" }, url: { type: "string" }, profile: { type: "string" }, "id-length": { type: "string" },
  // MSC4108 2024 (type 2)
  "rendezvous-url": { type: "string" }, "server-name": { type: "string" },
  help: { type: "boolean" },
} as const;

/** The options of one QR type, refused with the other. */
const ONLY_TYPE_3 = ["id", "url", "profile", "id-length"] as const;
const ONLY_TYPE_2 = ["rendezvous-url", "server-name"] as const;

async function encode(args: string[]): Promise<number> {
  const { values, positionals } = parseCommandArgs(args, ENCODE_OPTIONS);
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  if (positionals.length > 0) throw new UsageError(`encode takes no positional arguments\n${USAGE}`);
  const type = values.type ?? "3";
  if (type !== "2" && type !== "3") throw new UsageError("--type must be 3 (MSC4388, default) or 2 (MSC4108 2024)");
  for (const flag of type === "2" ? ONLY_TYPE_3 : ONLY_TYPE_2) {
    if (values[flag] !== undefined) throw new UsageError(type === "2" ? `--${flag} belongs to the MSC4388 QR (type 3), not --type 2` : `--${flag} belongs to the MSC4108 2024 QR (--type 2)`);
  }
  const need = (name: keyof typeof ENCODE_OPTIONS): string => {
    const v = values[name];
    if (typeof v !== "string") throw new UsageError(type === "2" ? `encode --type 2 needs --${name}\n${USAGE_2024}` : `encode needs --${name}\n${USAGE}`);
    return v;
  };
  const intent = need("intent");
  if (intent !== "login" && intent !== "reciprocate") throw new UsageError('--intent must be "login" or "reciprocate"');
  let payload: () => Uint8Array;
  if (type === "2") {
    const serverName = values["server-name"];
    payload = () => encodeQr2024({ intent, publicKey: b64decode(need("key")), rendezvousUrl: need("rendezvous-url"), ...(serverName !== undefined ? { serverName } : {}) });
  } else {
    const key = need("key");
    const id = need("id");
    const url = need("url");
    const idLength = values["id-length"];
    if (idLength !== undefined && idLength !== "1" && idLength !== "2") throw new UsageError("--id-length must be 1 or 2");
    payload = () => encodeQr(
      { intent, publicKey: b64decode(key), rendezvousId: id, baseUrl: url },
      getProfile(values.profile ?? DEFAULT_PROFILE),
      idLength === undefined ? {} : { idLengthBytes: idLength === "1" ? 1 : 2 },
    );
  }
  try {
    const bytes = payload();
    if (values.png !== undefined) await writeQrPngFile(values.png, bytes);
    process.stdout.write(`${hexEncode(bytes)}\n`);
    return 0;
  } catch (err) {
    if (err instanceof ProtocolError) return printError(err.code, err.message);
    throw err;
  }
}

export async function run(args: string[]): Promise<number> {
  const [sub, ...rest] = args;
  if (sub === "decode") return decode(rest);
  if (sub === "encode") return encode(rest);
  if (sub === undefined || sub === "--help" || sub === "-h" || sub === "help") {
    console.log(USAGE);
    return sub === undefined ? 2 : 0;
  }
  throw new UsageError(`unknown subcommand "${sub}"\n${USAGE}`);
}
