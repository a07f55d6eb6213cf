// node --import ./register.mjs dist/main/index.js …: installs hooks.mjs (see there).
import { register } from "node:module";

register("./hooks.mjs", import.meta.url);
