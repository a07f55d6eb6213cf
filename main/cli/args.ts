// The commands' options through node:util parseArgs: each command declares its options in parseArgs'
// own format, and gets back typed values, its positional arguments (everything after `--` among them),
// and one UsageError (exit 2) for an unknown option, a missing value or a value given to a boolean:
// a typo must not silently fall back to a default.
import { parseArgs } from "node:util";

export class UsageError extends Error {
  override readonly name = "UsageError";
}

/** A command's options, as parseArgs takes them: `--name value` / `--name=value`, or a boolean `--flag`. */
export type OptionSpec = Readonly<Record<string, { readonly type: "string" | "boolean" }>>;

/** The values given: a string per string option, `true` per boolean flag; absent when not given. */
export type OptionValues<O extends OptionSpec> = { -readonly [K in keyof O]?: O[K]["type"] extends "boolean" ? true : string };

export interface CommandArgs<O extends OptionSpec> {
  readonly values: OptionValues<O>;
  readonly positionals: string[];
}

export function parseCommandArgs<const O extends OptionSpec>(args: readonly string[], options: O): CommandArgs<O> {
  // parseArgs' strict mode is not used: it refuses a value that starts with "-" after a space
  // (`--key -Ab…`, which a key or id can be), and it words its errors for programmers. The checks
  // below are the strict mode's, over the tokens, in the command line's own words.
  const { values, positionals, tokens } = parseArgs({ args: [...args], options, strict: false, allowPositionals: true, tokens: true });
  for (const token of tokens) {
    if (token.kind !== "option") continue;
    const type = Object.hasOwn(options, token.name) ? options[token.name]!.type : undefined;
    if (type === undefined) throw new UsageError(`unknown option ${token.rawName}`);
    if (type === "string" && token.value === undefined) throw new UsageError(`${token.rawName} needs a value`);
    if (type === "boolean" && token.inlineValue) throw new UsageError(`${token.rawName} takes no value`);
  }
  // After the checks, every value has its declared type.
  return { values: values as OptionValues<O>, positionals };
}

export type ProtocolFlag = "auto" | "2024" | "2025";

/** `--protocol 2024|2025|auto` (default auto). */
export function parseProtocol(value: string | undefined): ProtocolFlag {
  if (value === undefined) return "auto";
  if (value === "auto" || value === "2024" || value === "2025") return value;
  throw new UsageError(`--protocol must be 2024, 2025 or auto (got ${value})`);
}
