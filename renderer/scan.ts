// Getting QR bytes into the app on a desktop: camera, screen/window capture, an image file, a pasted
// image, or the payload pasted as text. Decoding keeps the raw bytes (jsqr `binaryData`): MSC4388 codes
// are byte mode and not UTF-8, so the text field would mangle them. Main parses the bytes.
import jsQR from "jsqr";

/** Decode a QR code in an image; null when none is found. */
export function decodeImageData(img: ImageData): Uint8Array | null {
  const hit = jsQR(img.data, img.width, img.height, { inversionAttempts: "attemptBoth" });
  if (!hit || hit.binaryData.length === 0) return null;
  return Uint8Array.from(hit.binaryData);
}

function canvasFor(w: number, h: number): CanvasRenderingContext2D {
  const c = document.createElement("canvas");
  c.width = w;
  c.height = h;
  const ctx = c.getContext("2d", { willReadFrequently: true });
  if (!ctx) throw new Error("no 2d canvas");
  return ctx;
}

/** Decode an image file or a pasted image blob. */
export async function decodeBlob(blob: Blob): Promise<Uint8Array | null> {
  const bmp = await createImageBitmap(blob);
  try {
    // Large screenshots: jsqr is fine up to a few megapixels; scale down beyond that.
    const scale = Math.min(1, 2000 / Math.max(bmp.width, bmp.height));
    const w = Math.max(1, Math.round(bmp.width * scale));
    const h = Math.max(1, Math.round(bmp.height * scale));
    const ctx = canvasFor(w, h);
    ctx.drawImage(bmp, 0, 0, w, h);
    return decodeImageData(ctx.getImageData(0, 0, w, h));
  } finally {
    bmp.close();
  }
}

/** The payload pasted as text: hex (spaces allowed) or base64 (standard or URL-safe, padding optional). */
export function parsePayloadText(text: string): Uint8Array | null {
  const t = text.trim();
  if (t.length === 0) return null;
  const hex = t.replace(/[\s:]/g, "");
  if (/^(?:[0-9a-fA-F]{2})+$/.test(hex)) {
    const out = new Uint8Array(hex.length / 2);
    for (let i = 0; i < out.length; i++) out[i] = parseInt(hex.slice(2 * i, 2 * i + 2), 16);
    return out;
  }
  const b64 = t.replace(/\s/g, "").replace(/-/g, "+").replace(/_/g, "/").replace(/=+$/, "");
  if (!/^[A-Za-z0-9+/]+$/.test(b64) || b64.length % 4 === 1) return null;
  try {
    const bin = atob(b64 + "=".repeat((4 - (b64.length % 4)) % 4));
    return Uint8Array.from(bin, (ch) => ch.charCodeAt(0));
  } catch {
    return null;
  }
}

export function toBase64(bytes: Uint8Array): string {
  let s = "";
  for (const b of bytes) s += String.fromCharCode(b);
  return btoa(s);
}

/**
 * Watch a camera or screen stream in a <video> and decode frames until a code is found or stop() is
 * called. Frames are sampled every 150 ms: decoding every animation frame burns a core for nothing.
 */
export function watchStream(video: HTMLVideoElement, stream: MediaStream, onCode: (bytes: Uint8Array) => void): () => void {
  let stopped = false;
  video.srcObject = stream;
  video.muted = true;
  void video.play().catch(() => undefined);
  const tick = (): void => {
    if (stopped) return;
    if (video.readyState >= 2 && video.videoWidth > 0) {
      const scale = Math.min(1, 1280 / Math.max(video.videoWidth, video.videoHeight));
      const w = Math.round(video.videoWidth * scale);
      const h = Math.round(video.videoHeight * scale);
      const ctx = canvasFor(w, h);
      ctx.drawImage(video, 0, 0, w, h);
      const bytes = decodeImageData(ctx.getImageData(0, 0, w, h));
      if (bytes) {
        stop();
        onCode(bytes);
        return;
      }
    }
    timer = window.setTimeout(tick, 150);
  };
  let timer = window.setTimeout(tick, 0);
  const stop = (): void => {
    stopped = true;
    window.clearTimeout(timer);
    for (const track of stream.getTracks()) track.stop();
    video.srcObject = null;
  };
  return stop;
}

export async function openCamera(): Promise<MediaStream> {
  return navigator.mediaDevices.getUserMedia({ video: { facingMode: "environment", width: { ideal: 1280 } }, audio: false });
}

/** Screen or window capture; in Electron, main answers with setDisplayMediaRequestHandler. */
export async function openScreen(): Promise<MediaStream> {
  return navigator.mediaDevices.getDisplayMedia({ video: true, audio: false });
}
