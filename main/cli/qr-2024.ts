// `qr-login qr encode --type 2`: the MSC4108 2024 QR (MATRIX 0x02) on the command line, beside the
// MSC4388 one of qr.ts. Decoding needs nothing here: `qr decode` reads both versions by their bytes.
import { b64decode, hexEncode } from "../protocol/bytes.js";
import { ProtocolError } from "../protocol/errors.js";
import { encodeQr2024 } from "../protocol-2024/qr.js";
import type { ParsedArgs } from "./args.js";
import { UsageError } from "./args.js";
import { writeQrPngFile } from "./qr-image.js";

export const USAGE_2024 = [
  "  qr-login qr encode --type 2 --intent login|reciprocate --key <base64> --rendezvous-url <url>",
  "                     [--server-name <name>] [--png FILE]",
  "      (MSC4108 2024; --server-name is required for reciprocate, where it names the homeserver)",
].join("\n");

/** Prints the hex of the 2024 QR (and writes the PNG); returns the exit code. */
export async function encode2024(parsed: ParsedArgs, printError: (code: string, message: string) => number): Promise<number> {
  for (const flag of ["id", "url", "profile", "id-length"]) {
    if (parsed.values.has(flag) || parsed.booleans.has(flag)) throw new UsageError(`--${flag} belongs to the MSC4388 QR (type 3), not --type 2`);
  }
  const need = (name: string): string => {
    const v = parsed.values.get(name);
    if (v === undefined) throw new UsageError(`encode --type 2 needs --${name}\n${USAGE_2024}`);
    return v;
  };
  const intent = need("intent");
  if (intent !== "login" && intent !== "reciprocate") throw new UsageError('--intent must be "login" or "reciprocate"');
  const serverName = parsed.values.get("server-name");
  try {
    const payload = encodeQr2024({ intent, publicKey: b64decode(need("key")), rendezvousUrl: need("rendezvous-url"), ...(serverName !== undefined ? { serverName } : {}) });
    const png = parsed.values.get("png");
    if (png !== undefined) await writeQrPngFile(png, payload);
    process.stdout.write(`${hexEncode(payload)}\n`);
    return 0;
  } catch (err) {
    if (err instanceof ProtocolError) return printError(err.code, err.message);
    throw err;
  }
}
