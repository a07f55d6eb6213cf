// Tests that spawn the `qr-login` CLI need dist/ up to date: build it once per jest run (esbuild, ~0.2 s).
import { build } from "../scripts/build.mjs";

export default async function globalSetup() {
  await build({ quiet: true });
}
