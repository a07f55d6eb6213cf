// Native ESM mode (run with NODE_OPTIONS=--experimental-vm-modules, see package.json).
// In ESM mode the global `jest` object does not exist: import it from "@jest/globals".
export default {
  testEnvironment: "node",
  roots: ["<rootDir>/test"],
  testMatch: ["**/*.test.ts"],
  extensionsToTreatAsEsm: [".ts"],
  // Sources import siblings as "./x.js" (nodenext style); jest must find the .ts file.
  moduleNameMapper: { "^(\\.{1,2}/.*)\\.js$": "$1" },
  // keepImportAttributes: main/conformance imports its cases as JSON (`with { type: "json" }`, which
  // esbuild bundles into dist/cli.js); without it swc drops the attribute and jest warns.
  transform: {
    "^.+\\.ts$": ["@swc/jest", {
      jsc: { parser: { syntax: "typescript" }, target: "es2022", experimental: { keepImportAttributes: true } },
      module: { type: "es6" },
    }],
    // fastify's inject (light-my-request) requires cookie 2, which is ESM only; jest's require cannot
    // load ESM on Node 22, so that one package is compiled to CommonJS.
    "/node_modules/cookie/.+\\.js$": ["@swc/jest", { jsc: { parser: { syntax: "ecmascript" }, target: "es2022" }, module: { type: "commonjs" } }],
  },
  transformIgnorePatterns: ["/node_modules/(?!cookie/)"],
  globalSetup: "<rootDir>/test/global-setup.js",
  testTimeout: 30000,
  maxWorkers: 2,
};
