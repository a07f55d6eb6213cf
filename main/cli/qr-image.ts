// QR images for the CLI and tests (Node only; the renderer draws its own): read a PNG and return the
// raw payload bytes of the QR in it, or write a payload as a PNG. The payload is binary, so it is
// read from jsQR's `binaryData` (never its text decoding) and written as one byte-mode segment.
import { readFile, writeFile } from "node:fs/promises";
import jsQR from "jsqr";
import { PNG } from "pngjs";
import QRCode from "qrcode";

export class QrImageError extends Error {
  override readonly name = "QrImageError";
  constructor(readonly code: "qr_image_unreadable" | "qr_image_no_code", message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

/** The payload bytes of the QR code in a PNG image. */
export function decodeQrPng(png: Uint8Array): Uint8Array {
  let image: PNG;
  try {
    image = PNG.sync.read(Buffer.from(png.buffer, png.byteOffset, png.byteLength));
  } catch (cause) {
    throw new QrImageError("qr_image_unreadable", "not a readable PNG image", { cause });
  }
  const rgba = new Uint8ClampedArray(image.data.buffer, image.data.byteOffset, image.data.byteLength);
  // jsqr is CommonJS whose module.exports is the function and also carries it as `.default`; under
  // nodenext typing the default import is the module object, so call `.default` (works in Node and esbuild).
  const code = jsQR.default(rgba, image.width, image.height, { inversionAttempts: "attemptBoth" });
  if (!code) throw new QrImageError("qr_image_no_code", "no QR code found in the image");
  return Uint8Array.from(code.binaryData);
}

export async function decodeQrPngFile(file: string): Promise<Uint8Array> {
  return decodeQrPng(await readFile(file));
}

/** A PNG of the payload: byte mode, error correction Q (as the MSC examples). */
export async function encodeQrPng(payload: Uint8Array, options: { scale?: number; margin?: number } = {}): Promise<Uint8Array> {
  const png = await QRCode.toBuffer([{ data: payload, mode: "byte" }], {
    errorCorrectionLevel: "Q",
    margin: options.margin ?? 4,
    scale: options.scale ?? 6,
    type: "png",
  });
  return new Uint8Array(png.buffer, png.byteOffset, png.byteLength);
}

export async function writeQrPngFile(file: string, payload: Uint8Array): Promise<void> {
  await writeFile(file, await encodeQrPng(payload));
}
