// main/cli/open-url.ts: the URL reaches the platform's opener as one unchanged argument, with no shell
// that could read `&`, `|`, `^`, `%` or `"` (cmd.exe did: `cmd /c start "" URL` ran `&calc`); and a URL
// the policy refuses never reaches a process at all. Platform and spawn are injected, so every
// platform's code path runs here.
import { describe, expect, test } from "@jest/globals";
import { EventEmitter } from "node:events";
import type { ChildProcess, SpawnOptions } from "node:child_process";
import { openerCommand, openInBrowser } from "../../main/cli/open-url.js";

const HOSTILE = 'https://auth.example.org/device?user_code=AB&x=1|calc^%PATH%&q="quoted"&next=%26';

function fakeSpawn() {
  const calls: { command: string; args: string[]; options: SpawnOptions }[] = [];
  const spawn = (command: string, args: string[], options: SpawnOptions): ChildProcess => {
    calls.push({ command, args, options });
    const child = new EventEmitter() as unknown as ChildProcess;
    (child as unknown as { unref(): void }).unref = () => undefined;
    setImmediate(() => child.emit("spawn"));
    return child;
  };
  return { calls, spawn };
}

describe("openInBrowser", () => {
  test.each([
    ["win32", "C:\\Windows\\System32\\rundll32.exe", ["url.dll,FileProtocolHandler"]],
    ["darwin", "open", []],
    ["linux", "xdg-open", []],
    ["freebsd", "xdg-open", []],
  ] as const)("%s: the URL is the last argument, unchanged, and no shell runs", async (platform, command, before) => {
    const { calls, spawn } = fakeSpawn();
    await openInBrowser(HOSTILE, { platform, spawn, env: { SystemRoot: "C:\\Windows" } });
    expect(calls).toHaveLength(1);
    const [call] = calls;
    expect(call!.command).toBe(command);
    expect(call!.args).toEqual([...before, HOSTILE]);
    expect(call!.options.shell).toBe(false);
    expect(call!.command).not.toMatch(/(^|\\)cmd(\.exe)?$/i);
    if (platform === "win32") {
      // Node would otherwise quote an argument containing `"` (and add backslashes): rundll32 does
      // not unquote, so the verbatim command line is what keeps the URL unchanged.
      expect(call!.options.windowsVerbatimArguments).toBe(true);
    }
  });

  test.each(["smb://evil.example/share/x.exe", "file:///etc/passwd", "http://evil.example/device", "https://auth.example.org/a b", " https://auth.example.org/", "https://auth.example.org/\n&calc", "--help"])(
    "%j is refused before any process starts",
    async (url) => {
      for (const platform of ["win32", "darwin", "linux"] as const) {
        const { calls, spawn } = fakeSpawn();
        await expect(openInBrowser(url, { platform, spawn })).rejects.toMatchObject({ name: "UnsafeUrlError" });
        expect(calls).toEqual([]);
      }
    },
  );

  test("http to this computer (the development stack) is opened", async () => {
    const { calls, spawn } = fakeSpawn();
    await openInBrowser("http://127.0.0.1:8008/device?code=1&x=2", { platform: "linux", spawn });
    expect(calls[0]!.args).toEqual(["http://127.0.0.1:8008/device?code=1&x=2"]);
  });

  test("Windows: rundll32 comes from the system folder, not from PATH", () => {
    expect(openerCommand(HOSTILE, "win32", { SystemRoot: "D:\\Win" }).command).toBe("D:\\Win\\System32\\rundll32.exe");
  });
});
