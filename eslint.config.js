import js from "@eslint/js";
import tseslint from "typescript-eslint";
import globals from "globals";

// The layers (docs/architecture.md): each folder lists what it must never import. Nothing imports
// upward; contract/ (the failure vocabulary, the IPC table) sits below everything and imports nothing of
// ours; the 2025 protocol core stays pure but for the contract's failure reasons; the servers take only
// types and protocol constants from main/; the renderer sees nothing but the contract, and of the IPC
// table only its types. An upward import fails `npm run lint`.
// `forbid` patterns refuse any import; `forbidValues` patterns refuse all but `import type`.
const layers = [
  {
    files: ["contract/**/*.ts"],
    why: "contract/ is below every program: its own files and valibot (for the IPC table's schemas), nothing else",
    forbid: ["^(?!\\./|valibot$)"],
  },
  {
    files: ["main/protocol/**/*.ts"],
    why: "main/protocol is the pure MSC4388 core: only its own files, @noble/* and the contract's failure reasons",
    forbid: ["^\\.\\./(?!\\.\\./contract/failures\\.js$)", "^matrix-js-sdk", "^@matrix-org/", "^electron$", "^node:", "^valibot$"],
  },
  {
    files: ["main/protocol-2024/**/*.ts"],
    why: "main/protocol-2024 (MSC4108 2024 adapter) may use the 2025 core, the contract and matrix-js-sdk, nothing above",
    forbid: ["^\\.\\./(?!protocol/|\\.\\./contract/)", "^electron$"],
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
    why: "main/app (Electron main) uses the flows, the dev stack and the contract, never the CLI, the servers, the preload or the renderer directly",
    forbid: ["^\\.\\./cli/", "^\\.\\./\\.\\./(server|preload|renderer)/"],
  },
  {
    files: ["server/**/*.ts"],
    why: "server/ takes only types, and main/protocol constants, from main/",
    forbid: ["(^|/)main/(?!protocol/)"],
    allowTypeImports: true,
  },
  {
    files: ["preload/**/*.ts"],
    why: "preload/ builds one API from the IPC table; it imports only electron, its own files and the contract",
    forbid: ["^\\.\\./(?!contract/)"],
  },
  {
    files: ["renderer/*.ts"],
    why: "renderer/ sees only the contract: constants, and the IPC table's types (its schemas stay in main and the preload)",
    forbid: ["^\\.\\./(?!contract/)", "^electron$", "^valibot$"],
    forbidValues: ["^\\.\\./contract/(ipc|schemas)\\.js$"],
  },
  {
    files: ["renderer/screens/**/*.ts"],
    why: "renderer/screens/ sees the renderer and the contract's constants and types, nothing else",
    forbid: ["^\\.\\./\\.\\./(?!contract/)", "^electron$", "^valibot$"],
    forbidValues: ["^\\.\\./\\.\\./contract/(ipc|schemas)\\.js$"],
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
  ...layers.map(({ files, why, forbid, forbidValues = [], allowTypeImports }) => ({
    files,
    rules: {
      "@typescript-eslint/no-restricted-imports": [
        "error",
        {
          patterns: [
            ...forbid.map((regex) => ({ regex, message: why, ...(allowTypeImports ? { allowTypeImports } : {}) })),
            ...forbidValues.map((regex) => ({ regex, message: why, allowTypeImports: true })),
          ],
        },
      ],
    },
  })),
);
