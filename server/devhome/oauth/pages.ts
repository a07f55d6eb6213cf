// Server-rendered pages of the development homeserver's authorization server: user-code entry, the
// device-grant consent ("you are signing in another device"), password login, authorization-code
// consent, success and error pages. No scripts and no external assets: one inline stylesheet, native
// form controls with labels, one <h1> per page, errors announced with role="alert".

export function escapeHtml(value: string): string {
  return value.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** Tagged template that escapes every interpolated value except Raw ones. */
class Raw {
  constructor(readonly html: string) {}
}
export function raw(html: string): Raw {
  return new Raw(html);
}
function html(strings: TemplateStringsArray, ...values: unknown[]): Raw {
  let out = strings[0] ?? "";
  values.forEach((v, i) => {
    const piece = Array.isArray(v) ? v.map((x) => (x instanceof Raw ? x.html : escapeHtml(String(x)))).join("")
      : v instanceof Raw ? v.html
      : v === undefined || v === null || v === false ? ""
      : escapeHtml(String(v));
    out += piece + (strings[i + 1] ?? "");
  });
  return new Raw(out);
}

const STYLE = `
:root{color-scheme:light dark;--fg:#1b1d22;--bg:#fff;--muted:#5c6370;--accent:#0b6b50;--danger:#b3261e;--card:#f4f6f8}
@media (prefers-color-scheme:dark){:root{--fg:#e8eaed;--bg:#15181c;--muted:#a8b0bb;--accent:#5fd3a9;--danger:#ff8a80;--card:#1f2329}}
*{box-sizing:border-box}body{margin:0;font:16px/1.5 system-ui,-apple-system,"Segoe UI",sans-serif;color:var(--fg);background:var(--bg)}
main{max-width:30rem;margin:2rem auto;padding:1.5rem;background:var(--card);border-radius:12px}
h1{font-size:1.5rem;margin:0 0 1rem}p{margin:.5rem 0 1rem}.muted{color:var(--muted)}
dl{display:grid;grid-template-columns:auto 1fr;gap:.25rem 1rem;margin:1rem 0}dt{font-weight:600}dd{margin:0;word-break:break-all}
.code{font:700 1.6rem/1.2 ui-monospace,monospace;letter-spacing:.15em}
label{display:block;font-weight:600;margin:.75rem 0 .25rem}
input[type=text],input[type=password]{width:100%;font:inherit;padding:.6rem;border:2px solid var(--muted);border-radius:6px;background:var(--bg);color:var(--fg)}
input.code-input{text-transform:uppercase;letter-spacing:.15em;font-family:ui-monospace,monospace}
.actions{display:flex;gap:.75rem;flex-wrap:wrap;margin-top:1.25rem}
button{font:inherit;font-weight:600;padding:.6rem 1.2rem;border-radius:6px;border:2px solid var(--accent);cursor:pointer}
button.primary{background:var(--accent);color:var(--bg)}button.secondary{background:transparent;color:var(--fg);border-color:var(--muted)}
:focus-visible{outline:3px solid var(--accent);outline-offset:2px}
.alert{border-left:4px solid var(--danger);padding:.5rem .75rem;color:var(--danger);font-weight:600}
.warning{border-left:4px solid var(--accent);padding:.5rem .75rem}
`;

/** Content-Security-Policy for every page: no scripts, no external loads, no framing. */
export const PAGE_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'";

function layout(title: string, body: Raw): string {
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>${escapeHtml(title)} · qr-login development homeserver</title>
<style>${STYLE}</style>
</head>
<body>
<main>
${body.html}
<p class="muted"><small>qr-login development homeserver — for local testing only.</small></p>
</main>
</body>
</html>`;
}

function alert(message: string | undefined): Raw {
  return message ? html`<p class="alert" role="alert" id="form-error">${message}</p>` : raw("");
}

export interface CodeInputPage {
  action: string;
  xsrf: string;
  userCode?: string;
  error?: string;
}

/** Where the user types (or finds pre-filled) the code shown on the device being signed in. */
export function codeInputPage(p: CodeInputPage): string {
  return layout("Enter the code", html`
<h1>Sign in another device</h1>
<p>Enter the code shown on the device you want to sign in.</p>
${alert(p.error)}
<form method="post" action="${p.action}">
<input type="hidden" name="xsrf" value="${p.xsrf}">
<label for="user_code">Code</label>
<input type="text" id="user_code" name="user_code" class="code-input" required autocomplete="off" autocapitalize="characters" spellcheck="false"
 value="${p.userCode ?? ""}"${p.error ? raw(' aria-invalid="true" aria-describedby="form-error"') : raw("")}${p.userCode ? raw("") : raw(" autofocus")}>
<div class="actions"><button type="submit" class="primary"${p.userCode ? raw(" autofocus") : raw("")}>Continue</button></div>
</form>`);
}

export interface DeviceConsentPage {
  action: string;
  xsrf: string;
  userCode: string;
  clientName: string;
  clientUri?: string;
  deviceId?: string;
  /** Set when the browser already has a session; otherwise the password is asked next. */
  signedInAs?: string;
}

/** The device-grant consent: plainly about signing in ANOTHER device, with Approve / Deny. */
export function deviceConsentPage(p: DeviceConsentPage): string {
  return layout("Sign in another device?", html`
<h1>Sign in another device?</h1>
<p class="warning">You are about to sign in <strong>another device</strong> to your account. It will be able to read and send your messages.
Only approve if you started this yourself and the code below is the one shown on that other device.</p>
<dl>
<dt>Application</dt><dd>${p.clientName}</dd>
${p.clientUri ? html`<dt>Website</dt><dd>${p.clientUri}</dd>` : raw("")}
<dt>Device ID</dt><dd><code>${p.deviceId ?? "(none requested)"}</code></dd>
<dt>Code</dt><dd><span class="code" aria-label="Code ${p.userCode.split("").join(" ")}">${p.userCode}</span></dd>
<dt>Account</dt><dd>${p.signedInAs ?? "You will be asked to sign in next."}</dd>
</dl>
${approveOrDeny(p.action, { xsrf: p.xsrf, user_code: p.userCode }, ["confirm", "yes"], ["abort", "yes"])}`);
}

/** A form of hidden fields with an Approve and a Deny button, each a [name, value] the server reads. */
function approveOrDeny(action: string, hidden: Record<string, string>, approve: [string, string], deny: [string, string]): Raw {
  return html`<form method="post" action="${action}">
${Object.entries(hidden).map(([name, value]) => html`<input type="hidden" name="${name}" value="${value}">\n`)}<div class="actions">
<button type="submit" name="${approve[0]}" value="${approve[1]}" class="primary">Approve</button>
<button type="submit" name="${deny[0]}" value="${deny[1]}" class="secondary">Deny</button>
</div>
</form>`;
}

export interface LoginPage {
  action: string;
  cancelAction: string;
  csrf: string;
  purpose: string;
  username?: string;
  error?: string;
}

/**
 * The username and password fields, marked invalid (and described by the alert) after an error;
 * `focus` puts the cursor in the first one still to fill.
 */
function credentialFields(p: { username?: string; error?: string }, focus: boolean): Raw {
  const invalid = p.error ? raw(' aria-invalid="true" aria-describedby="form-error"') : raw("");
  const autofocus = (here: boolean) => raw(focus && here ? " autofocus" : "");
  return html`<label for="username">Username</label>
<input type="text" id="username" name="username" required autocomplete="username" autocapitalize="none" spellcheck="false" value="${p.username ?? ""}"${invalid}${autofocus(!p.username)}>
<label for="password">Password</label>
<input type="password" id="password" name="password" required autocomplete="current-password"${invalid}${autofocus(!!p.username)}>`;
}

export function loginPage(p: LoginPage): string {
  return layout("Sign in", html`
<h1>Sign in</h1>
<p>${p.purpose}</p>
${alert(p.error)}
<form method="post" action="${p.action}">
<input type="hidden" name="csrf" value="${p.csrf}">
${credentialFields(p, true)}
<div class="actions"><button type="submit" class="primary">Sign in</button></div>
</form>
<form method="post" action="${p.cancelAction}">
<input type="hidden" name="csrf" value="${p.csrf}">
<div class="actions"><button type="submit" class="secondary">Cancel</button></div>
</form>`);
}

export interface AuthConsentPage {
  action: string;
  csrf: string;
  clientName: string;
  clientUri?: string;
  redirectUri?: string;
  deviceId?: string;
  scopes: string[];
  signedInAs: string;
}

/** Consent for the authorization-code grant: the application signs in on THIS browser's side. */
export function authConsentPage(p: AuthConsentPage): string {
  return layout("Allow access?", html`
<h1>Allow ${p.clientName} to access your account?</h1>
<dl>
<dt>Application</dt><dd>${p.clientName}</dd>
${p.clientUri ? html`<dt>Website</dt><dd>${p.clientUri}</dd>` : raw("")}
${p.redirectUri ? html`<dt>Returns to</dt><dd>${p.redirectUri}</dd>` : raw("")}
<dt>Device ID</dt><dd><code>${p.deviceId ?? "(none requested)"}</code></dd>
<dt>Account</dt><dd>${p.signedInAs}</dd>
<dt>Access</dt><dd>${p.scopes.length ? p.scopes.map((s) => html`<code>${s}</code><br>`) : "basic sign-in only"}</dd>
</dl>
${approveOrDeny(p.action, { csrf: p.csrf }, ["decision", "approve"], ["decision", "deny"])}`);
}

export function messagePage(title: string, message: string, opts: { alert?: boolean } = {}): string {
  return layout(title, html`
<h1>${title}</h1>
${opts.alert ? html`<p class="alert" role="alert">${message}</p>` : html`<p role="status">${message}</p>`}`);
}

export interface CrossSigningResetPage {
  action: string;
  csrf: string;
  username?: string;
  error?: string;
}

/** Approval of a cross-signing identity reset (the UIA fallback URL of keys/device_signing/upload). */
export function crossSigningResetPage(p: CrossSigningResetPage): string {
  return layout("Reset your identity?", html`
<h1>Allow resetting your cryptographic identity?</h1>
<p class="warning">A client asked to replace your cross-signing keys. Your other devices and the people who verified you
will see a new identity and will need to verify again. Only allow this if you started it.</p>
${alert(p.error)}
<form method="post" action="${p.action}">
<input type="hidden" name="csrf" value="${p.csrf}">
${credentialFields(p, false)}
<div class="actions"><button type="submit" class="primary">Allow reset</button></div>
</form>`);
}

export interface HomePage {
  baseUrl: string;
  serverName: string;
  rendezvousMode: string;
  masQuirks: boolean;
}

/** What someone who opens the base URL in a browser sees: what this is and where things are. */
export function homePage(p: HomePage): string {
  const link = (path: string) => html`<a href="${p.baseUrl}${path}">${p.baseUrl}${path}</a>`;
  return layout("Development homeserver", html`
<h1>qr-login development homeserver</h1>
<p>A local stand-in for a Matrix homeserver with an OAuth 2.0 authorization server (like Synapse + MAS),
for trying “Sign in with QR” on one machine. Point your Matrix clients at <code>${p.baseUrl}</code>.</p>
<dl>
<dt>Server name</dt><dd>${p.serverName}</dd>
<dt>OAuth 2.0 metadata</dt><dd>${link("_matrix/client/v1/auth_metadata")}</dd>
<dt>Enter a code</dt><dd>${link("oauth2/device")}</dd>
<dt>Rendezvous</dt><dd>${p.baseUrl}_matrix/client/v1/rendezvous (${p.rendezvousMode})</dd>
<dt>MAS quirks</dt><dd>${p.masQuirks ? "on" : "off"}</dd>
</dl>`);
}
