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
  // main/login sits below the app, the CLI, the dev stack and the doctor, in folders whose imports point
  // one way: flows/ (the state machines and their ports) ← channel/, oauth/, matrix/ (the adapters) ←
  // account/; url-policy.ts, beside them, imports nothing. Each folder's list is complete (a later
  // entry replaces an earlier one for the same file), and `../../../` is above main/.
  {
    files: ["main/login/*.ts"],
    why: "main/login/url-policy.ts is the one URL rule every layer shares: it imports nothing but Node",
    forbid: ["^(?!node:)"],
  },
  {
    files: ["main/login/flows/**/*.ts"],
    why: "main/login/flows (the MSC4108 state machines) depend on their ports, the URL policy, the contract and the QR codecs' names only: no adapter, no SDK, nothing above",
    forbid: ["^\\.\\./(?!url-policy\\.js$|\\.\\./)", "^\\.\\./\\.\\./(?!protocol/qr\\.js$|protocol-2024/qr\\.js$|\\.\\./contract/)", "^matrix-js-sdk", "^@matrix-org/", "^oauth4webapi$", "^electron$"],
  },
  {
    files: ["main/login/channel/**/*.ts"],
    why: "main/login/channel (the secure channel adapter) joins the flows' ports to the protocol cores, and nothing else",
    forbid: ["^\\.\\./(?!flows/|\\.\\./)", "^\\.\\./\\.\\./(?!protocol/|protocol-2024/|\\.\\./contract/)", "^oauth4webapi$", "^electron$"],
  },
  {
    files: ["main/login/oauth/**/*.ts"],
    why: "main/login/oauth (the OAuth 2.0 client) uses the flows' ports and the URL policy; no Matrix SDK and no protocol core, so the doctor can load it",
    forbid: ["^\\.\\./(?!flows/ports\\.js$|url-policy\\.js$|\\.\\./)", "^\\.\\./\\.\\./(?!\\.\\./contract/)", "^matrix-js-sdk", "^@matrix-org/", "^electron$"],
  },
  {
    files: ["main/login/matrix/**/*.ts"],
    why: "main/login/matrix (the homeserver, whoami, matrix-js-sdk) uses the flows' ports and messages and the URL policy; not the channel, OAuth or account folders",
    forbid: ["^\\.\\./(?!flows/|url-policy\\.js$|\\.\\./)", "^\\.\\./\\.\\./(?!protocol/|\\.\\./contract/)", "^oauth4webapi$", "^electron$"],
  },
  {
    files: ["main/login/account/**/*.ts"],
    why: "main/login/account (the existing device's account session and browser sign-in) builds on oauth/ and matrix/, never on the channel or anything above",
    forbid: ["^\\.\\./(?!flows/|oauth/|matrix/|url-policy\\.js$|\\.\\./)", "^\\.\\./\\.\\./(?!\\.\\./contract/)", "^electron$"],
  },
  {
    files: ["main/doctor/**/*.ts"],
    why: "main/doctor (the deployment checks) serves the CLI and the app and imports neither; from the servers only the rendezvous wire constants; of main/login only what loads no matrix-js-sdk (nor the 2024 adapter, which does)",
    forbid: [
      "^\\.\\./(app|cli|devstack|protocol-2024)/",
      "^\\.\\./login/(?!matrix/homeserver\\.js$|oauth/client\\.js$|flows/ports\\.js$|url-policy\\.js$)",
      "^\\.\\./\\.\\./server/(?!rendezvous/protocol\\.js$)",
      "^\\.\\./\\.\\./(preload|renderer)/",
      "^electron$",
    ],
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
