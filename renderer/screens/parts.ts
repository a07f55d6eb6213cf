// Pieces several screens share: headings, the waiting spinner, numbered steps, the storage note, the
// big choice buttons, the rows of the account lists, and the frame of an error screen.
import type { StorageStatus } from "../../contract/account.js";
import type { Account } from "../../contract/schemas.js";
import { copy } from "../copy.js";
import { button, h } from "../dom.js";
import type { ViewContext } from "./view.js";

/** Each screen has one h1; it takes the focus when the screen changes. */
export function heading(text: string): HTMLHeadingElement {
  return h("h1", { tabindex: "-1" }, text);
}

export function spinner(text: string): HTMLElement {
  return h("div", { class: "waiting" }, h("span", { class: "spinner", "aria-hidden": "true" }), h("span", {}, text));
}

export function steps(items: readonly string[]): HTMLOListElement {
  return h("ol", { class: "steps" }, ...items.map((t) => h("li", {}, t)));
}

export function cancelButton(ctx: ViewContext): HTMLButtonElement {
  return button(copy.action.cancel, () => ctx.send({ type: "cancel" }));
}

/** How this sign-in is kept; a warning when it is not kept at all (no keyring). */
export function storageNote(status: StorageStatus): HTMLElement {
  const text = copy.storage[status];
  return status === "keychain"
    ? h("p", { class: "help", "data-storage": status }, text)
    : h("p", { class: "warning", role: "note", "data-storage": status }, h("strong", {}, copy.notSaved), text);
}

/** A big choice button with a description under its label (described-by, so both are read). */
export function choiceButton(label: string, description: string, onClick: () => void): HTMLButtonElement {
  const id = `choice-${label.toLowerCase().replace(/[^a-z]+/g, "-")}`;
  return h("button", { type: "button", class: "primary choice", "aria-describedby": id, onclick: () => onClick() }, h("span", { class: "choice-label" }, label), h("span", { id, class: "choice-help" }, description));
}

/** "Verification: Not verified" for an account signed in by QR whose device is not cross-signed. */
export function unverifiedRow(account: Account): HTMLElement[] {
  return account.verified === false ? [h("dt", {}, copy.field.verification), h("dd", { "data-field": "verified" }, copy.home.notVerified)] : [];
}

/** The account and its homeserver, as a definition list. */
export function accountRows(account: Account): HTMLElement[] {
  return [h("dt", {}, copy.field.account), h("dd", { "data-field": "user" }, account.userId), h("dt", {}, copy.field.homeserver), h("dd", {}, account.homeserver)];
}

export function actions(...children: (HTMLElement | null)[]): HTMLElement {
  return h("div", { class: "actions" }, ...children);
}

/**
 * An error screen: its title, its body (announced), anything more, the details line when the message
 * says more than the body, and its buttons.
 */
export function errorScreen(words: { title: string; body: string }, more: (HTMLElement | null)[], detail: { message: string; reason?: string }, buttons: HTMLElement): HTMLElement {
  const { message, reason } = detail;
  return h(
    "section",
    { class: "error-screen" },
    heading(words.title),
    h("p", { role: "alert" }, words.body),
    ...more,
    message && message !== words.body ? h("p", { class: "detail" }, copy.details(message, reason)) : null,
    buttons,
  );
}
