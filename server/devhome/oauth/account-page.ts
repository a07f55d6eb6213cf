// The account page a homeserver's UIA response points to when a client wants to replace the user's
// cross-signing identity (MAS: `<account>/?action=org.matrix.cross_signing_reset`, MSC4312-style). The user
// signs in with their password and approves; the Client-Server API then accepts one identity upload for a
// short while. CSRF: double-submit of a random nonce (cookie + HMAC'd hidden field).
import { createHmac, randomBytes, timingSafeEqual } from "node:crypto";
import { parse as parseQuery } from "node:querystring";
import type { FastifyInstance, FastifyReply } from "fastify";
import type { Accounts } from "./accounts.js";
import { crossSigningResetPage, messagePage, PAGE_CSP } from "./pages.js";

export const ACCOUNT_PATH = "/account";
export const CROSS_SIGNING_RESET_ACTION = "org.matrix.cross_signing_reset";
const NONCE_COOKIE = "devhome_account_nonce";

export interface AccountPageOptions {
  accounts: Accounts;
  csrfKey: Buffer;
  /** Lets the user's next cross-signing upload replace the existing identity. */
  allowCrossSigningReset(userId: string): void;
}

function page(reply: FastifyReply, status: number, body: string): FastifyReply {
  return reply.code(status).header("Content-Type", "text/html; charset=utf-8").header("Cache-Control", "no-store")
    .header("Content-Security-Policy", PAGE_CSP).header("X-Frame-Options", "DENY").send(body);
}

function cookie(header: string | undefined, name: string): string | undefined {
  for (const part of (header ?? "").split(";")) {
    const [k, ...v] = part.trim().split("=");
    if (k === name) return v.join("=");
  }
  return undefined;
}

export async function accountPageRoutes(app: FastifyInstance, opts: AccountPageOptions): Promise<void> {
  app.addContentTypeParser("application/x-www-form-urlencoded", { parseAs: "string", bodyLimit: 16 * 1024 }, (_req, body, done) => {
    done(null, parseQuery(body as string));
  });
  const mac = (nonce: string) => createHmac("sha256", opts.csrfKey).update(`account:${nonce}`).digest("base64url");

  const renderReset = (reply: FastifyReply, status: number, error?: string, username?: string) => {
    const nonce = randomBytes(16).toString("base64url");
    reply.header("Set-Cookie", `${NONCE_COOKIE}=${nonce}; Path=${ACCOUNT_PATH}; HttpOnly; SameSite=Strict`);
    return page(reply, status, crossSigningResetPage({
      action: `${ACCOUNT_PATH}?action=${CROSS_SIGNING_RESET_ACTION}`, csrf: mac(nonce),
      ...(error ? { error } : {}), ...(username ? { username } : {}),
    }));
  };

  app.get(ACCOUNT_PATH, async (request, reply) => {
    const action = (request.query as Record<string, unknown>).action;
    if (action === CROSS_SIGNING_RESET_ACTION) return renderReset(reply, 200);
    return page(reply, 200, messagePage("Your account", "The development homeserver has no account settings. Sign in from your Matrix client."));
  });

  app.post(ACCOUNT_PATH, async (request, reply) => {
    const body = (request.body ?? {}) as Record<string, unknown>;
    const nonce = cookie(request.headers.cookie, NONCE_COOKIE);
    const given = typeof body.csrf === "string" ? Buffer.from(body.csrf) : Buffer.alloc(0);
    const expected = nonce ? Buffer.from(mac(nonce)) : Buffer.alloc(1);
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
      return page(reply, 403, messagePage("Request refused", "The form was not submitted from this site. Start again.", { alert: true }));
    }
    if ((request.query as Record<string, unknown>).action !== CROSS_SIGNING_RESET_ACTION) {
      return page(reply, 400, messagePage("Unknown action", "Nothing to do.", { alert: true }));
    }
    const username = typeof body.username === "string" ? body.username : "";
    const password = typeof body.password === "string" ? body.password : "";
    const userId = username && password ? await opts.accounts.verify(username, password) : null;
    if (!userId) return renderReset(reply, 401, "Wrong username or password.", username);
    opts.allowCrossSigningReset(userId);
    reply.header("Set-Cookie", `${NONCE_COOKIE}=; Path=${ACCOUNT_PATH}; Max-Age=0`);
    return page(reply, 200, messagePage("Identity reset allowed",
      `${userId} may now replace their cross-signing identity from the client that asked, for the next few minutes. Return to it and continue.`));
  });
}
