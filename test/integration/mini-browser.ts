// The tests drive the development homeserver's pages with the development stack's own page browser.
export { MiniBrowser } from "../../main/devstack/mini-browser.js";
export type { Form, Page } from "../../main/devstack/mini-browser.js";
