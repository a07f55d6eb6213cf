// Small, strict flag parser shared by the commands: `--name value`, `--name=value`, boolean `--flag`.
// Unknown flags are errors (a typo must not silently fall back to a default).

export class UsageError extends Error {
  override readonly name = "UsageError";
}

export interface FlagSpec {
  /** Flags that take a value. */
  readonly values?: readonly string[];
  /** Flags that are booleans. */
  readonly booleans?: readonly string[];
}

export interface ParsedArgs {
  readonly positional: string[];
  readonly values: Map<string, string>;
  readonly booleans: Set<string>;
}

export function parseArgs(args: readonly string[], spec: FlagSpec): ParsedArgs {
  const valueFlags = new Set(spec.values ?? []);
  const booleanFlags = new Set(spec.booleans ?? []);
  const positional: string[] = [];
  const values = new Map<string, string>();
  const booleans = new Set<string>();
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (arg === "--") {
      positional.push(...args.slice(i + 1));
      break;
    }
    if (!arg.startsWith("--")) {
      positional.push(arg);
      continue;
    }
    const eq = arg.indexOf("=");
    const name = eq === -1 ? arg.slice(2) : arg.slice(2, eq);
    if (valueFlags.has(name)) {
      const value = eq === -1 ? args[++i] : arg.slice(eq + 1);
      if (value === undefined) throw new UsageError(`--${name} needs a value`);
      values.set(name, value);
    } else if (booleanFlags.has(name)) {
      if (eq !== -1) throw new UsageError(`--${name} takes no value`);
      booleans.add(name);
    } else {
      throw new UsageError(`unknown option --${name}`);
    }
  }
  return { positional, values, booleans };
}

export type ProtocolFlag = "auto" | "2024" | "2025";

/** `--protocol 2024|2025|auto` (default auto). */
export function parseProtocol(value: string | undefined): ProtocolFlag {
  if (value === undefined) return "auto";
  if (value === "auto" || value === "2024" || value === "2025") return value;
  throw new UsageError(`--protocol must be 2024, 2025 or auto (got ${value})`);
}
