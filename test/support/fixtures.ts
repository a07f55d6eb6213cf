// The repository's own test fixtures (test/fixtures/, provenance in its README): the MSC4388 test
// vectors and the MSC's example QR images. (The rendezvous conformance cases ship with the program,
// in main/conformance/.)
import { readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
export const FIXTURES = path.join(REPO_ROOT, "test", "fixtures");

/** Path of a fixture file, e.g. fixturePath("qr", "4388-qr-intent00.png"). */
export function fixturePath(...parts: string[]): string {
  return path.join(FIXTURES, ...parts);
}

export function readJsonFixture<T>(...parts: string[]): T {
  return JSON.parse(readFileSync(fixturePath(...parts), "utf8")) as T;
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Json = any;
export interface Vector { id: string; kind: string; format?: string; data: Json }

const all: Vector[] = readJsonFixture<{ vectors: Vector[] }>("msc4388-vectors.json").vectors;

export function vectors(kind?: string): Vector[] {
  return kind ? all.filter((v) => v.kind === kind) : all;
}

export function vector(id: string): Vector {
  const v = all.find((x) => x.id === id);
  if (!v) throw new Error(`vector ${id} missing from test/fixtures/msc4388-vectors.json`);
  return v;
}

export function hex(s: string): Uint8Array {
  return Uint8Array.from(Buffer.from(s, "hex"));
}
