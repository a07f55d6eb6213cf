// A tiny cookie-keeping HTTP "browser" for driving the development homeserver's server-rendered OAuth
// pages without a person (`qr-login demo`, the flow benchmark, the tests): follows redirects by hand
// (so each hop's Set-Cookie is kept), and finds forms and their fields in the HTML.
export interface Page {
  status: number;
  url: string;
  html: string;
  /** Every URL visited, redirects included. */
  trail: string[];
}

export interface Form {
  action: string;
  fields: Record<string, string>;
  /** Named submit buttons: name → value. */
  buttons: Array<{ name: string; value: string }>;
}

function decodeEntities(s: string): string {
  return s.replace(/&#(\d+);/g, (_m, n: string) => String.fromCharCode(Number(n))).replace(/&amp;/g, "&").replace(/&quot;/g, '"').replace(/&lt;/g, "<").replace(/&gt;/g, ">");
}

function attr(tag: string, name: string): string | undefined {
  const m = new RegExp(`\\s${name}="([^"]*)"`).exec(tag);
  return m ? decodeEntities(m[1]!) : undefined;
}

export class MiniBrowser {
  readonly cookies = new Map<string, string>();

  private store(response: Response): void {
    for (const line of response.headers.getSetCookie()) {
      const [pair] = line.split(";");
      const eq = pair!.indexOf("=");
      const name = pair!.slice(0, eq).trim();
      const value = pair!.slice(eq + 1).trim();
      if (/expires=Thu, 01 Jan 1970/i.test(line) || value === "") this.cookies.delete(name);
      else this.cookies.set(name, value);
    }
  }

  private cookieHeader(): string {
    return [...this.cookies].map(([k, v]) => `${k}=${v}`).join("; ");
  }

  /** GET or POST, following redirects (as GET) until a non-redirect or a URL outside `stayOn` (returned unvisited). */
  async go(url: string, init: { method?: string; form?: Record<string, string> } = {}, stayOn?: string): Promise<Page> {
    const trail: string[] = [];
    let method = init.method ?? (init.form ? "POST" : "GET");
    let body: string | undefined = init.form ? new URLSearchParams(init.form).toString() : undefined;
    for (let hops = 0; hops < 20; hops++) {
      trail.push(url);
      if (stayOn && !url.startsWith(stayOn)) return { status: 0, url, html: "", trail };
      const headers: Record<string, string> = { Accept: "text/html" };
      if (this.cookies.size) headers.Cookie = this.cookieHeader();
      if (body !== undefined) headers["Content-Type"] = "application/x-www-form-urlencoded";
      const response = await fetch(url, { method, headers, ...(body !== undefined ? { body } : {}), redirect: "manual" });
      this.store(response);
      const location = response.headers.get("location");
      if (response.status >= 300 && response.status < 400 && location) {
        await response.arrayBuffer();
        url = new URL(location, url).href;
        method = "GET";
        body = undefined;
        continue;
      }
      return { status: response.status, url, html: await response.text(), trail };
    }
    throw new Error("too many redirects");
  }

  /** The forms of a page (method=post), with hidden/text inputs and named buttons. */
  static forms(page: Page): Form[] {
    const out: Form[] = [];
    for (const m of page.html.matchAll(/<form\b([^>]*)>([\s\S]*?)<\/form>/g)) {
      const action = new URL(attr(m[1]!, "action") ?? page.url, page.url).href;
      const fields: Record<string, string> = {};
      const buttons: Form["buttons"] = [];
      for (const input of m[2]!.matchAll(/<input\b[^>]*>/g)) {
        const name = attr(input[0], "name");
        if (name) fields[name] = attr(input[0], "value") ?? "";
      }
      for (const button of m[2]!.matchAll(/<button\b[^>]*>/g)) {
        const name = attr(button[0], "name");
        if (name) buttons.push({ name, value: attr(button[0], "value") ?? "" });
      }
      out.push({ action, fields, buttons });
    }
    return out;
  }

  /** Submits the page's form that has `field` (or the first), with extra fields and optionally a button. */
  async submit(page: Page, values: Record<string, string> = {}, opts: { button?: string; withField?: string; stayOn?: string } = {}): Promise<Page> {
    const forms = MiniBrowser.forms(page);
    const form = opts.withField ? forms.find((f) => opts.withField! in f.fields || f.buttons.some((b) => b.name === opts.withField)) : forms[0];
    if (!form) throw new Error(`no form on ${page.url}: ${page.html.slice(0, 500)}`);
    const data = { ...form.fields, ...values };
    if (opts.button) {
      const b = form.buttons.find((x) => x.name === opts.button || x.value === opts.button);
      if (!b) throw new Error(`no button ${opts.button} on ${page.url}`);
      data[b.name] = b.value;
    }
    return this.go(form.action, { form: data }, opts.stayOn);
  }
}
