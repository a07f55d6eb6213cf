import { parseArgs, UsageError } from "../../main/cli/args.js";

describe("parseArgs", () => {
  test("values, booleans and positionals", () => {
    const a = parseArgs(["decode", "--profile", "msc4388", "--png=x.png", "--open", "--", "--raw"], {
      values: ["profile", "png"],
      booleans: ["open"],
    });
    expect(a.positional).toEqual(["decode", "--raw"]);
    expect(a.values.get("profile")).toBe("msc4388");
    expect(a.values.get("png")).toBe("x.png");
    expect(a.booleans.has("open")).toBe(true);
  });

  test("unknown flags, missing values and values on booleans are usage errors", () => {
    expect(() => parseArgs(["--nope"], {})).toThrow(UsageError);
    expect(() => parseArgs(["--profile"], { values: ["profile"] })).toThrow("--profile needs a value");
    expect(() => parseArgs(["--open=1"], { booleans: ["open"] })).toThrow("takes no value");
  });
});
