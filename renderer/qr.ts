// Draw the MSC4388 payload as a QR image: byte mode (the payload is binary, never a string — a string
// segment would be re-encoded as UTF-8), error correction Q, and a 4-module quiet zone in a fixed light
// colour, so the code still scans when the app is in dark mode.
import QRCode from "qrcode";

export async function qrDataUrl(payload: Uint8Array, scale = 6): Promise<string> {
  return QRCode.toDataURL([{ data: payload, mode: "byte" }], {
    errorCorrectionLevel: "Q",
    margin: 4,
    scale,
    color: { dark: "#000000ff", light: "#ffffffff" },
  });
}
