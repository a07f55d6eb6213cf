// The login and consent steps oidc-provider delegates to the application ("interactions"), as fastify
// routes under /oauth2/interaction/:uid. Every form carries a CSRF token bound to the interaction
// (HMAC of its uid under a server key) on top of oidc-provider's SameSite interaction cookie.
import { createHmac, timingSafeEqual } from "node:crypto";
import { parse as parseQuery } from "node:querystring";
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import type { InteractionResults } from "oidc-provider";
import { authConsentPage, loginPage, messagePage, PAGE_CSP } from "./pages.js";
import type { OAuthServer } from "./provider.js";
import { OAUTH_PREFIX } from "./provider.js";
import { grantedMatrixAccess, parseMatrixScopes } from "./scopes.js";

type Details = Awaited<ReturnType<OAuthServer["provider"]["interactionDetails"]>>;

function csrfFor(server: OAuthServer, uid: string): string {
  return createHmac("sha256", server.csrfKey).update(`interaction:${uid}`).digest("base64url");
}

function csrfOk(server: OAuthServer, uid: string, given: unknown): boolean {
  if (typeof given !== "string") return false;
  const expected = Buffer.from(csrfFor(server, uid));
  const actual = Buffer.from(given);
  return actual.length === expected.length && timingSafeEqual(actual, expected);
}

function page(reply: FastifyReply, status: number, body: string): FastifyReply {
  return reply
    .code(status)
    .header("Content-Type", "text/html; charset=utf-8")
    .header("Cache-Control", "no-store")
    .header("Content-Security-Policy", PAGE_CSP)
    .header("X-Frame-Options", "DENY")
    .header("Referrer-Policy", "no-referrer")
    .send(body);
}

function field(body: unknown, name: string): string | undefined {
  const v = (body as Record<string, unknown> | null | undefined)?.[name];
  return typeof v === "string" ? v : undefined;
}

/** Registers the interaction routes on `app` (an encapsulated context: it adds a form body parser).
 *  `getServer` is late-bound: the OAuth server exists only once the port (part of the issuer) is known. */
export async function interactionRoutes(app: FastifyInstance, getServer: () => OAuthServer): Promise<void> {
  app.addContentTypeParser("application/x-www-form-urlencoded", { parseAs: "string", bodyLimit: 16 * 1024 }, (_req, body, done) => {
    done(null, parseQuery(body as string));
  });

  const base = `${OAUTH_PREFIX}/interaction/:uid`;

  const load = async (request: FastifyRequest, reply: FastifyReply): Promise<Details | null> => {
    try {
      const details = await getServer().provider.interactionDetails(request.raw, reply.raw);
      if (details.uid !== (request.params as { uid: string }).uid) throw new Error("interaction mismatch");
      return details;
    } catch {
      page(reply, 400, messagePage("Sign-in expired", "This sign-in request has expired or was opened in another browser. Start again from your application.", { alert: true }));
      return null;
    }
  };

  const finish = async (request: FastifyRequest, reply: FastifyReply, result: InteractionResults): Promise<FastifyReply> => {
    const url = await getServer().provider.interactionResult(request.raw, reply.raw, result, { mergeWithLastSubmission: false });
    return reply.code(303).header("Cache-Control", "no-store").redirect(url, 303);
  };

  const clientOf = async (details: Details) => {
    const clientId = String(details.params.client_id ?? "");
    const client = await getServer().provider.Client.find(clientId);
    return { clientName: client?.clientName ?? clientId, clientUri: client?.clientUri };
  };

  /** Grants exactly what the prompt says is missing (OIDC scopes/claims and the Matrix resource scopes). */
  const grantMissing = async (details: Details): Promise<string> => {
    const accountId = details.session?.accountId;
    if (!accountId) throw new Error("no session");
    const grant = (details.grantId ? await getServer().provider.Grant.find(details.grantId) : undefined)
      ?? new (getServer().provider.Grant)({ accountId, clientId: String(details.params.client_id) });
    const missing = details.prompt.details as {
      missingOIDCScope?: string[]; missingOIDCClaims?: string[]; missingResourceScopes?: Record<string, string[]>;
    };
    if (missing.missingOIDCScope) grant.addOIDCScope(missing.missingOIDCScope.join(" "));
    if (missing.missingOIDCClaims) grant.addOIDCClaims(missing.missingOIDCClaims);
    for (const [indicator, scopes] of Object.entries(missing.missingResourceScopes ?? {})) grant.addResourceScope(indicator, scopes.join(" "));
    return grant.save();
  };

  const renderLogin = async (reply: FastifyReply, details: Details, status = 200, error?: string, username?: string) => {
    const { clientName } = await clientOf(details);
    const purpose = details.deviceCode
      ? "Sign in to your account to approve signing in your other device."
      : `Sign in to continue to ${clientName}.`;
    return page(reply, status, loginPage({
      action: `${OAUTH_PREFIX}/interaction/${details.uid}/login`,
      cancelAction: `${OAUTH_PREFIX}/interaction/${details.uid}/abort`,
      csrf: csrfFor(getServer(), details.uid),
      purpose,
      ...(error ? { error } : {}),
      ...(username ? { username } : {}),
    }));
  };

  app.get(base, async (request, reply) => {
    const details = await load(request, reply);
    if (!details) return reply;
    if (details.prompt.name === "login") return renderLogin(reply, details);
    if (details.prompt.name === "consent") {
      // Device grant: the user approved on the device consent page (Approve = oidc-provider's confirm step)
      // before this point; the consent prompt only records the grant.
      if (details.deviceCode) return finish(request, reply, { consent: { grantId: await grantMissing(details) } });
      const { clientName, clientUri } = await clientOf(details);
      const scopes = String(details.params.scope ?? "").split(" ").filter(Boolean);
      const deviceId = grantedMatrixAccess(scopes).deviceId;
      return page(reply, 200, authConsentPage({
        action: `${OAUTH_PREFIX}/interaction/${details.uid}/consent`,
        csrf: csrfFor(getServer(), details.uid),
        clientName,
        ...(clientUri ? { clientUri } : {}),
        ...(typeof details.params.redirect_uri === "string" ? { redirectUri: details.params.redirect_uri } : {}),
        ...(deviceId ? { deviceId } : {}),
        scopes,
        signedInAs: details.session?.accountId ?? "",
      }));
    }
    return page(reply, 400, messagePage("Unsupported step", `Unsupported sign-in step "${details.prompt.name}".`, { alert: true }));
  });

  app.post(`${base}/login`, async (request, reply) => {
    const details = await load(request, reply);
    if (!details) return reply;
    if (!csrfOk(getServer(), details.uid, field(request.body, "csrf"))) {
      return page(reply, 403, messagePage("Request refused", "The form was not submitted from this site. Start again.", { alert: true }));
    }
    if (details.prompt.name !== "login") return page(reply, 400, messagePage("Already signed in", "This step is already done.", { alert: true }));
    const username = field(request.body, "username") ?? "";
    const password = field(request.body, "password") ?? "";
    const userId = username && password ? await getServer().accounts.verify(username, password) : null;
    if (!userId) return renderLogin(reply, details, 401, "Wrong username or password.", username);
    return finish(request, reply, { login: { accountId: userId, remember: false } });
  });

  app.post(`${base}/consent`, async (request, reply) => {
    const details = await load(request, reply);
    if (!details) return reply;
    if (!csrfOk(getServer(), details.uid, field(request.body, "csrf"))) {
      return page(reply, 403, messagePage("Request refused", "The form was not submitted from this site. Start again.", { alert: true }));
    }
    if (details.prompt.name !== "consent") return page(reply, 400, messagePage("Nothing to approve", "This step is already done.", { alert: true }));
    const decision = field(request.body, "decision");
    if (decision === "approve") {
      // Re-check the scope policy on what is being granted (defence in depth; the request was checked already).
      parseMatrixScopes(String(details.params.scope ?? ""));
      return finish(request, reply, { consent: { grantId: await grantMissing(details) } });
    }
    return finish(request, reply, { error: "access_denied", error_description: "The user denied the request" });
  });

  app.post(`${base}/abort`, async (request, reply) => {
    const details = await load(request, reply);
    if (!details) return reply;
    if (!csrfOk(getServer(), details.uid, field(request.body, "csrf"))) {
      return page(reply, 403, messagePage("Request refused", "The form was not submitted from this site. Start again.", { alert: true }));
    }
    return finish(request, reply, { error: "access_denied", error_description: "The user cancelled the sign-in" });
  });
}
