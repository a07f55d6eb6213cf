// Types of scripts/system-deps.mjs for the TypeScript that imports it (test/support/system-programs.ts).
export interface Need {
  /** Looked up on PATH and in the sbin folders; "chromium" by findChromium. */
  program: string;
  /** Debian/Ubuntu package. */
  apt: string;
  /** Homebrew formula. */
  brew?: string;
  /** Playwright browser name: how Ubuntu and macOS get it. */
  playwright?: string;
}

export const NEEDS: readonly Need[];
export const DEBIAN_CHROMIUM: string;
export function findProgram(name: string, env?: NodeJS.ProcessEnv): string | null;
export function findChromium(env?: NodeJS.ProcessEnv): string | null;
export function systemKind(platform?: NodeJS.Platform, osRelease?: string): "debian" | "ubuntu" | "macos" | "other";

export interface MainOptions {
  env?: NodeJS.ProcessEnv;
  uid?: number;
  platform?: NodeJS.Platform;
  osRelease?: string;
  needs?: readonly Need[];
  playwrightCli?: string;
  out?: (line: string) => void;
  err?: (line: string) => void;
}
/** Checks the needs and installs what is missing where it may; returns the exit code. */
export function main(options?: MainOptions): number;
