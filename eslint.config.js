import js from "@eslint/js";
import tseslint from "typescript-eslint";
import globals from "globals";

// The layers (docs/architecture.md): each folder lists what it must never import. Nothing imports
// upward; the 2025 protocol core stays pure; the servers take only types and protocol constants from
// main/; the renderer sees nothing but the preload API's types. An upward import fails `npm run lint`.
const layers = [
  {
    files: ["main/protocol/**/*.ts"],
    why: "main/protocol is the pure MSC4388 core: only its own files and @noble/*",
    forbid: ["^\\.\\./", "^matrix-js-sdk", "^@matrix-org/", "^electron$", "^node:"],
  },
  {
    files: ["main/protocol-2024/**/*.ts"],
    why: "main/protocol-2024 (MSC4108 2024 adapter) may use the 2025 core and matrix-js-sdk, nothing above",
    forbid: ["^\\.\\./(?!protocol/)", "^electron$"],
  },
  {
    files: ["main/login/**/*.ts"],
    why: "main/login (the MSC4108 flows) sits below the app, the CLI, the dev stack and the doctor",
    forbid: ["^\\.\\./(app|cli|devstack|doctor)/", "^\\.\\./\\.\\./(server|preload|renderer)/", "^electron$"],
  },
  {
    files: ["main/doctor/**/*.ts"],
    why: "main/doctor (the deployment checks) serves the CLI and the app and imports neither; from the servers only the rendezvous wire constants; not the 2024 adapter (it loads matrix-js-sdk)",
    forbid: ["^\\.\\./(app|cli|devstack|protocol-2024)/", "^\\.\\./\\.\\./server/(?!rendezvous/protocol\\.js$)", "^\\.\\./\\.\\./(preload|renderer)/", "^electron$"],
  },
  {
    files: ["main/devstack/**/*.ts"],
    why: "main/devstack is used by the app and the CLI, and imports neither",
    forbid: ["^\\.\\./(app|cli|doctor)/", "^\\.\\./\\.\\./(preload|renderer)/", "^electron$"],
  },
  {
    files: ["main/conformance/**/*.ts"],
    why: "main/conformance tests rendezvous servers from the outside, as a client: no server code, nothing above it",
    forbid: ["^\\.\\./(?!protocol/)", "^electron$", "^matrix-js-sdk", "^@matrix-org/"],
  },
  {
    files: ["main/cli/**/*.ts"],
    why: "main/cli is its own program: it never loads the Electron app",
    forbid: ["^\\.\\./app/", "^\\.\\./\\.\\./(preload|renderer)/", "^electron$"],
  },
  {
    files: ["main/app/**/*.ts"],
    why: "main/app (Electron main) uses the flows and the dev stack, never the CLI or the servers directly",
    forbid: ["^\\.\\./cli/", "^\\.\\./\\.\\./(server|renderer)/"],
  },
  {
    files: ["server/**/*.ts"],
    why: "server/ takes only types, and main/protocol constants, from main/",
    forbid: ["(^|/)main/(?!protocol/)"],
    allowTypeImports: true,
  },
  {
    files: ["preload/**/*.ts"],
    why: "preload/ exposes one API; it imports only electron and its own files",
    forbid: ["^\\.\\./"],
  },
  {
    files: ["renderer/**/*.ts"],
    why: "renderer/ sees only the preload API (its types and constants)",
    forbid: ["^\\.\\./(?!preload/api\\.js$)", "^electron$"],
  },
];

export default tseslint.config(
  { ignores: ["dist/**", "node_modules/**", "test-artifacts/**", "coverage/**"] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: { ...globals.node } },
    rules: {
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_" }],
      "@typescript-eslint/consistent-type-imports": "error",
      "no-console": "off",
      eqeqeq: ["error", "always"],
    },
  },
  {
    files: ["renderer/**/*.ts"],
    languageOptions: { globals: { ...globals.browser } },
  },
  ...layers.map(({ files, why, forbid, allowTypeImports }) => ({
    files,
    rules: {
      "@typescript-eslint/no-restricted-imports": ["error", { patterns: forbid.map((regex) => ({ regex, message: why, ...(allowTypeImports ? { allowTypeImports } : {}) })) }],
    },
  })),
);
