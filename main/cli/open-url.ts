// Opening a URL in the system browser from the CLI, with no shell in between.
//
// The URL is chosen by others (a homeserver's authorization endpoint, the verification URI a new device
// sends), so it must reach the opener as one argument that nothing parses as a command line:
// - macOS `open URL` and the freedesktop `xdg-open URL` are executed directly (execve): the argument
//   arrives unchanged. checkOpenableUrl() guarantees it starts with https:/http:, so it cannot be read
//   as an option.
// - Windows has no execve: a process gets one command-line string. `cmd /c start "" URL` (what this did
//   before) lets cmd.exe read `&`, `|`, `^`, `%VAR%` and `"` in it: `&calc` ran a command and honest
//   authorization URLs were cut at their first `&`. Instead, as Go's pkg/browser and GitHub's cli/browser
//   do, rundll32 calls url.dll's FileProtocolHandler, which hands the rest of the command line to the
//   shell's URL association (ShellExecute) without a shell parsing it. rundll32 does not split or unquote
//   that rest, so the argument is passed verbatim (no quotes added by Node); checkOpenableUrl() refuses
//   whitespace, so the URL is exactly the text after the entry point's name. The full path of rundll32
//   avoids picking up another program of that name from PATH or the working directory.
import { spawn as nodeSpawn, type ChildProcess, type SpawnOptions } from "node:child_process";
import { checkOpenableUrl } from "../login/url-policy.js";

export interface OpenerCommand {
  command: string;
  args: string[];
  options: SpawnOptions;
}

/** The process that opens `url` on `platform`; the URL is always the last argument, unchanged. */
export function openerCommand(url: string, platform: NodeJS.Platform, env: NodeJS.ProcessEnv = process.env): OpenerCommand {
  const base: SpawnOptions = { stdio: "ignore", detached: true, shell: false };
  if (platform === "darwin") return { command: "open", args: [url], options: base };
  if (platform === "win32") {
    const systemRoot = env.SystemRoot ?? env.SYSTEMROOT ?? "C:\\Windows";
    return {
      command: `${systemRoot}\\System32\\rundll32.exe`,
      args: ["url.dll,FileProtocolHandler", url],
      options: { ...base, windowsVerbatimArguments: true, windowsHide: true },
    };
  }
  return { command: "xdg-open", args: [url], options: base };
}

export interface OpenDeps {
  platform?: NodeJS.Platform;
  spawn?: (command: string, args: string[], options: SpawnOptions) => ChildProcess;
  env?: NodeJS.ProcessEnv;
}

/**
 * Opens a URL with the platform's opener after the URL policy allowed it (throws UnsafeUrlError when
 * not); resolves once the opener started (not when the page loaded).
 */
export async function openInBrowser(url: string, deps: OpenDeps = {}): Promise<void> {
  const { command, args, options } = openerCommand(checkOpenableUrl(url), deps.platform ?? process.platform, deps.env ?? process.env);
  return new Promise<void>((resolve, reject) => {
    const child = (deps.spawn ?? nodeSpawn)(command, args, options);
    child.once("error", reject);
    child.once("spawn", () => {
      child.unref();
      resolve();
    });
  });
}
