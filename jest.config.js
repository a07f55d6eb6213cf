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
  },
  globalSetup: "<rootDir>/test/global-setup.js",
  testTimeout: 30000,
  maxWorkers: 2,
};
