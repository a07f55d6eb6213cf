// A tiny element builder: the UI is a handful of static screens, so a framework would not pay for itself.
// Text always goes through textContent (never innerHTML), so nothing from the network is parsed as markup.
type Child = Node | string | null | undefined | false;
type Attrs = Record<string, string | boolean | number | EventListener | undefined>;

export function h<K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Attrs = {}, ...children: Child[]): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === false) continue;
    if (typeof v === "function") el.addEventListener(k.replace(/^on/, ""), v);
    else if (v === true) el.setAttribute(k, "");
    else el.setAttribute(k, String(v));
  }
  for (const c of children) if (c !== null && c !== undefined && c !== false) el.append(c);
  return el;
}

export function button(label: string, onClick: () => void, opts: { primary?: boolean; id?: string; describedby?: string } = {}): HTMLButtonElement {
  return h("button", { type: "button", class: opts.primary ? "primary" : "secondary", id: opts.id, "aria-describedby": opts.describedby, onclick: () => onClick() }, label);
}
