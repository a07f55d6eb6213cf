// Development stack only: plays the user's browser on the development homeserver's consent pages
// (device-code entry → approve/deny → sign in as the demo account), so that `qr-login demo` and the
// flow benchmark run without a human. Never pointed at a real server: it posts a password into
// whatever form it finds.

interface Page {
  url: string;
  html: string;
}

interface Form {
  action: string;
  fields: Record<string, string>;
  buttons: Array<{ name: string; value: string }>;
}

const ENTITIES: Record<string, string> = { "&amp;": "&", "&quot;": '"', "&lt;": "<", "&gt;": ">", "&#39;": "'" };

function attribute(tag: string, name: string): string | undefined {
  const m = new RegExp(`\\s${name}="([^"]*)"`).exec(tag);
  return m ? m[1]!.replace(/&(amp|quot|lt|gt|#39);/g, (e) => ENTITIES[e] ?? e) : undefined;
}

class CookieBrowser {
  private readonly cookies = new Map<string, string>();

  async go(url: string, form?: Record<string, string>): Promise<Page> {
    let method = form ? "POST" : "GET";
    let body = form ? new URLSearchParams(form).toString() : undefined;
    for (let hop = 0; hop < 20; hop++) {
      const headers: Record<string, string> = { accept: "text/html" };
      if (this.cookies.size) headers["cookie"] = [...this.cookies].map(([k, v]) => `${k}=${v}`).join("; ");
      if (body !== undefined) headers["content-type"] = "application/x-www-form-urlencoded";
      const res = await fetch(url, { method, headers, redirect: "manual", ...(body !== undefined ? { body } : {}) });
      for (const line of res.headers.getSetCookie()) {
        const pair = line.split(";")[0]!;
        const eq = pair.indexOf("=");
        const value = pair.slice(eq + 1).trim();
        if (value === "" || /expires=Thu, 01 Jan 1970/i.test(line)) this.cookies.delete(pair.slice(0, eq).trim());
        else this.cookies.set(pair.slice(0, eq).trim(), value);
      }
      const location = res.headers.get("location");
      if (res.status >= 300 && res.status < 400 && location) {
        await res.arrayBuffer();
        url = new URL(location, url).href;
        method = "GET";
        body = undefined;
        continue;
      }
      return { url, html: await res.text() };
    }
    throw new Error("consent: too many redirects");
  }

  static forms(page: Page): Form[] {
    return [...page.html.matchAll(/<form\b([^>]*)>([\s\S]*?)<\/form>/g)].map((m) => {
      const fields: Record<string, string> = {};
      for (const input of m[2]!.matchAll(/<input\b[^>]*>/g)) {
        const name = attribute(input[0], "name");
        if (name) fields[name] = attribute(input[0], "value") ?? "";
      }
      const buttons = [...m[2]!.matchAll(/<button\b[^>]*>/g)].flatMap((b) => {
        const name = attribute(b[0], "name");
        return name ? [{ name, value: attribute(b[0], "value") ?? "" }] : [];
      });
      return { action: new URL(attribute(m[1]!, "action") ?? page.url, page.url).href, fields, buttons };
    });
  }

  async submit(page: Page, values: Record<string, string>, pick: { button?: string; field?: string } = {}): Promise<Page> {
    const forms = CookieBrowser.forms(page);
    const form = pick.field ? forms.find((f) => pick.field! in f.fields) : forms[0];
    if (!form) throw new Error(`consent: no form on ${page.url}`);
    const data = { ...form.fields, ...values };
    if (pick.button) {
      const b = form.buttons.find((x) => x.name === pick.button || x.value === pick.button);
      if (!b) throw new Error(`consent: no "${pick.button}" button on ${page.url}`);
      data[b.name] = b.value;
    }
    return this.go(form.action, data);
  }
}

/**
 * Open the verification URI and approve (or deny) the device as `username`. Resolves when the
 * homeserver has recorded the decision.
 */
export async function driveDevConsent(uri: string, account: { username: string; password: string }, decision: "approve" | "deny" = "approve"): Promise<void> {
  const browser = new CookieBrowser();
  const entry = await browser.go(uri);
  // verification_uri_complete pre-fills the code; the entry page only needs submitting.
  const consent = await browser.submit(entry, {});
  const next = await browser.submit(consent, {}, { button: decision === "approve" ? "confirm" : "abort" });
  if (decision === "approve") {
    const done = await browser.submit(next, { username: account.username, password: account.password }, { field: "password" });
    if (!/approved/i.test(done.html)) throw new Error(`consent: the device was not approved (${done.url})`);
  }
}
