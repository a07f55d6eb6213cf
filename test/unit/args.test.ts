import { describe, expect, test } from "@jest/globals";
import { parseCommandArgs, UsageError } from "../../main/cli/args.js";

const OPTIONS = { profile: { type: "string" }, png: { type: "string" }, key: { type: "string" }, open: { type: "boolean" } } as const;

describe("parseCommandArgs", () => {
  test("values, booleans and positionals; everything after -- is positional", () => {
    const a = parseCommandArgs(["decode", "--profile", "msc4388", "--png=x.png", "--open", "--", "--raw"], OPTIONS);
    expect(a.positionals).toEqual(["decode", "--raw"]);
    expect(a.values).toEqual({ profile: "msc4388", png: "x.png", open: true });
  });

  test("a value may start with a dash, after a space or an =; the last of a repeated option wins", () => {
    expect(parseCommandArgs(["--key", "-Ab_c", "--png=-x", "--profile", "a", "--profile", "b"], OPTIONS).values).toEqual({ key: "-Ab_c", png: "-x", profile: "b" });
    expect(parseCommandArgs(["-"], OPTIONS).positionals).toEqual(["-"]);
  });

  test("unknown options, missing values and values on booleans are usage errors", () => {
    expect(() => parseCommandArgs(["--nope"], {})).toThrow(UsageError);
    expect(() => parseCommandArgs(["--nope=1"], OPTIONS)).toThrow("unknown option --nope");
    expect(() => parseCommandArgs(["-h"], OPTIONS)).toThrow("unknown option -h");
    expect(() => parseCommandArgs(["--no-open"], OPTIONS)).toThrow("unknown option --no-open");
    expect(() => parseCommandArgs(["--profile"], OPTIONS)).toThrow("--profile needs a value");
    expect(() => parseCommandArgs(["--open=1"], OPTIONS)).toThrow("--open takes no value");
    expect(() => parseCommandArgs(["--open="], OPTIONS)).toThrow("--open takes no value");
  });
});
