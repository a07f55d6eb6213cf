// Loads shared/vectors/msc4388-vectors.json (shared/ sits beside the repository root).
import { readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
export const SHARED = path.resolve(REPO_ROOT, "../shared");

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Json = any;
export interface Vector { id: string; kind: string; format?: string; data: Json }

const all: Vector[] = JSON.parse(readFileSync(path.join(SHARED, "vectors/msc4388-vectors.json"), "utf8")).vectors;

export function vectors(kind?: string): Vector[] {
  return kind ? all.filter((v) => v.kind === kind) : all;
}

export function vector(id: string): Vector {
  const v = all.find((x) => x.id === id);
  if (!v) throw new Error(`vector ${id} missing from shared/vectors/msc4388-vectors.json`);
  return v;
}

export function hex(s: string): Uint8Array {
  return Uint8Array.from(Buffer.from(s, "hex"));
}
