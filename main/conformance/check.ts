// Assertions of the case specs. A failed one throws CaseFailure with a message that says what was
// looked at, what the rule wants and what the server answered, so a report line is enough to act on.
import type { Reply } from "./http.js";

export class CaseFailure extends Error {
  override readonly name = "CaseFailure";
}

const MAX_SHOWN = 120;

/** A value as shown in a message: JSON, cut to a readable length. */
export function show(value: unknown): string {
  const text = value === undefined ? "nothing" : JSON.stringify(value) ?? String(value);
  return text.length > MAX_SHOWN ? `${text.slice(0, MAX_SHOWN)}… (${text.length} chars)` : text;
}

export function fail(message: string): never {
  throw new CaseFailure(message);
}

export function ok(condition: boolean, message: string): asserts condition {
  if (!condition) fail(message);
}

export function equal(actual: unknown, expected: unknown, what: string): void {
  if (actual !== expected) fail(`${what}: expected ${show(expected)}, got ${show(actual)}`);
}

export function notEqual(actual: unknown, unwanted: unknown, what: string): void {
  if (actual === unwanted) fail(`${what}: must differ from ${show(unwanted)}`);
}

export function matches(actual: string | null | undefined, pattern: RegExp, what: string): void {
  if (typeof actual !== "string" || !pattern.test(actual)) fail(`${what}: expected to match ${pattern}, got ${show(actual ?? undefined)}`);
}

export function contains(actual: string | null | undefined, part: string, what: string): void {
  if (typeof actual !== "string" || !actual.toLowerCase().includes(part.toLowerCase())) fail(`${what}: expected to contain ${show(part)}, got ${show(actual ?? undefined)}`);
}

export function atLeast(actual: unknown, min: number, what: string): void {
  if (typeof actual !== "number" || !(actual >= min)) fail(`${what}: expected a number ≥ ${min}, got ${show(actual)}`);
}

export function atMost(actual: unknown, max: number, what: string): void {
  if (typeof actual !== "number" || !(actual <= max)) fail(`${what}: expected a number ≤ ${max}, got ${show(actual)}`);
}

export function positiveInteger(actual: unknown, what: string): void {
  if (!Number.isInteger(actual) || (actual as number) <= 0) fail(`${what}: expected a positive integer, got ${show(actual)}`);
}

export function isString(actual: unknown, what: string): asserts actual is string {
  if (typeof actual !== "string") fail(`${what}: expected a string, got ${show(actual)}`);
}

/** The JSON body of a reply (an empty object when there is none, so field checks say "got nothing"). */
export function body(r: Reply): Record<string, unknown> {
  return r.json ?? {};
}

/** `what` of a header, as named in messages. */
export const header = (name: string) => `header ${name}`;

/** The reply's status is one of `expected`; otherwise a message with what the server said. */
export function status(r: Reply, expected: number | readonly number[], what: string): void {
  const allowed = typeof expected === "number" ? [expected] : expected;
  if (allowed.includes(r.status)) return;
  const errcode = r.json?.errcode;
  const said = typeof errcode === "string" ? ` ${errcode}` : r.text && !r.json ? ` ${show(r.text)}` : "";
  fail(`${what}: expected ${allowed.join(" or ")}, got ${r.status}${said}`);
}
