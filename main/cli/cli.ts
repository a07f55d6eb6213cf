// `qr-login` command line: dispatches to one module per command (main/cli/*).
// Each command module exports `run(args: string[]): Promise<number>` returning the exit code.
import { UsageError } from "./args.js";

type CommandModule = { run(args: string[]): Promise<number>; summary: string };

const commands: Record<string, () => Promise<CommandModule>> = {
  server: () => import("./server.js"),
  devstack: () => import("./devstack.js"),
  qr: () => import("./qr.js"),
  channel: () => import("./channel.js"),
  "new-device": () => import("./new-device.js"),
  "existing-device": () => import("./existing-device.js"),
  demo: () => import("./demo.js"),
  conformance: () => import("./conformance.js"),
  doctor: () => import("./doctor.js"),
};

async function usage(): Promise<string> {
  const names = Object.keys(commands).sort();
  const modules = await Promise.all(names.map((name) => commands[name]!()));
  const width = Math.max(...names.map((name) => name.length));
  const lines = names.map((name, i) => `  ${name.padEnd(width)}  ${modules[i]!.summary}`);
  return ["usage: qr-login <command> [options]", "", "commands:", ...lines, "", "Run `qr-login <command> --help` for a command's options."].join("\n");
}

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === "--help" || name === "-h" || name === "help") {
    console.log(await usage());
    return name ? 0 : 2;
  }
  const load = commands[name];
  if (!load) {
    console.error(`qr-login: unknown command "${name}"\n\n${await usage()}`);
    return 2;
  }
  const command = await load();
  try {
    return await command.run(rest);
  } catch (err) {
    if (err instanceof UsageError) {
      console.error(`qr-login ${name}: ${err.message}`);
      return 2;
    }
    throw err;
  }
}

main(process.argv.slice(2)).then(
  (code) => { process.exitCode = code; },
  (err: unknown) => {
    console.error(`qr-login: ${err instanceof Error ? err.message : String(err)}`);
    process.exitCode = 1;
  },
);
