// The development homeserver: one fastify app on one origin serving
//   /oauth2/*, /.well-known/openid-configuration   the OAuth 2.0 authorization server (oidc-provider, koa)
//   /_matrix/client/{v1,unstable/org.matrix.msc2965}/auth_metadata   its metadata for Matrix clients
//   /_matrix/client/...                            the Client-Server API the sign-in flow uses (cs/)
//   /_matrix/client/{v1,unstable/io.element.msc4388}/rendezvous   the 2025 rendezvous API (MSC4388)
//   /_matrix/client/unstable/org.matrix.msc4108/rendezvous        the 2024 rendezvous API (MSC4108 2024)
//   /account?action=org.matrix.cross_signing_reset   approval of a cross-signing identity reset
// oidc-provider is a koa app: fastify hands it the raw request/response (reply.hijack) untouched, body
// included, so its own parsers, cookies and CORS apply exactly as when it runs alone.
import { randomBytes } from "node:crypto";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import Fastify from "fastify";
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { ALL_APIS, openStore, rendezvousPlugin } from "../rendezvous/index.js";
import { createCsApi } from "./cs/index.js";
import type { CsApi } from "./cs/index.js";
import type { RendezvousApi, RendezvousMode } from "../rendezvous/index.js";
import { accountPageRoutes, ACCOUNT_PATH, CROSS_SIGNING_RESET_ACTION } from "./oauth/account-page.js";
import { openAccounts } from "./oauth/accounts.js";
import type { Accounts } from "./oauth/accounts.js";
import { interactionRoutes } from "./oauth/interactions.js";
import { homePage, PAGE_CSP } from "./oauth/pages.js";
import { createOAuthServer, OAUTH_PREFIX } from "./oauth/provider.js";
import type { OAuthServer, OAuthTtls } from "./oauth/provider.js";
import { openDevhomeDb } from "./storage.js";
import type { DevhomeDb } from "./storage.js";
import type { DevhomeAuth, DeviceRegistry } from "./types.js";

export type { DevhomeAuth, DeviceRegistry, TokenInfo } from "./types.js";

export interface DevhomeOptions {
  /** Interface to listen on (default 127.0.0.1). */
  host?: string;
  /** Port (default 8008; 0 picks a free one). */
  port?: number;
  /** Directory of the SQLite file; undefined = in memory. */
  dataDir?: string;
  /** Create the demo account (and, once the CS API provides it, its cross-signing identity and backup). */
  seed?: boolean;
  masQuirks?: boolean;
  rendezvousMode?: RendezvousMode;
  /** Rendezvous APIs served (default both); /versions advertises exactly the ones served. */
  rendezvousApis?: readonly RendezvousApi[];
  /** Matrix server name (default "localhost"). */
  serverName?: string;
  /** Base URL clients use, when it differs from http://host:port/ (e.g. behind a proxy). */
  publicBaseUrl?: string;
  /** Device-grant polling interval in seconds (default 5). */
  deviceInterval?: number;
  ttl?: OAuthTtls;
  /** fastify logger (default off). */
  logger?: boolean;
}

export interface DemoAccount {
  userId: string;
  localpart: string;
  /** Printed once; only its scrypt hash is stored. */
  password: string;
}

export interface RunningDevhome {
  /** With a trailing slash; also the OAuth issuer. */
  readonly baseUrl: string;
  readonly serverName: string;
  readonly auth: DevhomeAuth;
  readonly accounts: Accounts;
  readonly oauth: OAuthServer;
  readonly db: DevhomeDb;
  readonly app: FastifyInstance;
  readonly demo?: DemoAccount;
  /** The Client-Server API's device registry (the OAuth side calls it when it issues device tokens). */
  readonly deviceRegistry: DeviceRegistry;
  /** The Client-Server API (devices, keys, sync, ...). */
  readonly cs: CsApi;
  close(): Promise<void>;
}

export const DEMO_LOCALPART = "alice";

function baseUrlFor(host: string, port: number): string {
  const h = host === "0.0.0.0" || host === "::" ? "127.0.0.1" : host.includes(":") ? `[${host}]` : host;
  return `http://${h}:${port}/`;
}

export async function startDevhome(opts: DevhomeOptions = {}): Promise<RunningDevhome> {
  const host = opts.host ?? "127.0.0.1";
  const serverName = opts.serverName ?? "localhost";
  const rendezvousMode = opts.rendezvousMode ?? "open";
  const rendezvousApis = rendezvousMode === "off" ? [] : opts.rendezvousApis ?? ALL_APIS;

  // Bind first: the issuer (and every absolute URL the servers hand out) contains the port, which with port 0
  // is known only once the socket is bound. Fastify then serves on this already-listening server.
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(opts.port ?? 8008, host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  const closeServer = () => new Promise<void>((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
  const port = (server.address() as AddressInfo).port;
  const baseUrl = opts.publicBaseUrl ? (opts.publicBaseUrl.endsWith("/") ? opts.publicBaseUrl : `${opts.publicBaseUrl}/`) : baseUrlFor(host, port);

  let db: DevhomeDb | undefined;
  let app: FastifyInstance | undefined;
  try {
    db = openDevhomeDb(opts.dataDir);
    const accounts = openAccounts(db, serverName);
    // The CS API (created below, it needs `auth`) supplies the registry the OAuth side calls on token issuance.
    const registry: { current?: DeviceRegistry } = {};
    const oauth = await createOAuthServer({
      issuer: baseUrl,
      db,
      accounts,
      masQuirks: opts.masQuirks ?? false,
      ...(opts.deviceInterval !== undefined ? { deviceInterval: opts.deviceInterval } : {}),
      ...(opts.ttl ? { ttl: opts.ttl } : {}),
      deviceRegistry: () => registry.current,
    });
    const auth = oauth.auth;

    // Element X's device ids are 43 base64 characters, percent-encoded in paths: allow long path parameters.
    const fastify = Fastify({
      logger: opts.logger ?? false,
      routerOptions: { maxParamLength: 1024 },
      serverFactory: (handler) => server.on("request", handler),
    });
    app = fastify;

    await fastify.register(async (scope) => {
      // Leave the body stream unread: oidc-provider parses it itself.
      scope.removeAllContentTypeParsers();
      scope.addContentTypeParser("*", (_request, _payload, done) => done(null));
      const forward = (request: FastifyRequest, reply: FastifyReply, path?: string): void => {
        reply.hijack();
        if (path) request.raw.url = path;
        oauth.handle(request.raw, reply.raw);
      };
      scope.all(`${OAUTH_PREFIX}/*`, (request, reply) => forward(request, reply));
      scope.all("/.well-known/openid-configuration", (request, reply) => forward(request, reply));
      // Matrix auth metadata (spec v1.15; MSC2965 unstable path): the authorization server metadata, as Synapse
      // passes MAS's through. Served by oidc-provider's discovery so it can never drift from what it enforces.
      for (const path of ["/_matrix/client/v1/auth_metadata", "/_matrix/client/unstable/org.matrix.msc2965/auth_metadata"]) {
        scope.route({ method: ["GET", "HEAD", "OPTIONS"], url: path, handler: (request, reply) => forward(request, reply, "/.well-known/openid-configuration") });
      }
    });
    await fastify.register(async (scope) => interactionRoutes(scope, () => oauth));

    const cs = createCsApi({
      db,
      serverName,
      auth,
      crossSigningResetUrl: `${baseUrl}${ACCOUNT_PATH.slice(1)}?action=${CROSS_SIGNING_RESET_ACTION}`,
      // Clients that discover the rendezvous server (and QR login) through /versions: the older
      // MSC4388 clients, and every 2024 client (matrix-js-sdk's MSC4108RendezvousSession POSTs to
      // this origin's org.matrix.msc4108 path only when it is advertised).
      unstableFeatures: {
        ...(rendezvousApis.includes("2025") ? { "io.element.msc4388": true } : {}),
        ...(rendezvousApis.includes("2024") ? { "org.matrix.msc4108": true } : {}),
      },
    });
    registry.current = cs.devices;
    await fastify.register(cs.plugin);
    await fastify.register(async (scope) => accountPageRoutes(scope, {
      accounts, csrfKey: oauth.csrfKey, allowCrossSigningReset: (userId) => cs.allowCrossSigningReset(userId),
    }));

    const home = homePage({ baseUrl, serverName, rendezvousMode, masQuirks: opts.masQuirks ?? false });
    fastify.get("/", (_request, reply) =>
      reply.header("Content-Type", "text/html; charset=utf-8").header("Content-Security-Policy", PAGE_CSP).send(home));

    await fastify.register(rendezvousPlugin, {
      mode: rendezvousMode,
      apis: rendezvousApis,
      // 2024 session URLs on the origin clients use, also behind a proxy.
      publicBaseUrl: baseUrl,
      store: await openStore("memory"),
      verifier: async (token: string) => {
        const info = await auth.verifyAccessToken(token);
        return info ? { userId: info.userId } : null;
      },
    });

    let demo: DemoAccount | undefined;
    if (opts.seed) {
      const password = randomBytes(12).toString("base64url");
      // Re-seeding a kept data directory resets the demo password (the old one was only ever printed).
      const userId = await accounts.upsert(DEMO_LOCALPART, password);
      demo = { userId, localpart: DEMO_LOCALPART, password };
    }

    await fastify.ready();

    let closed = false;
    const dbRef = db;
    return {
      baseUrl,
      serverName,
      auth,
      accounts,
      oauth,
      db: dbRef,
      app: fastify,
      ...(demo ? { demo } : {}),
      cs,
      deviceRegistry: cs.devices,
      async close() {
        if (closed) return;
        closed = true;
        await fastify.close();
        await closeServer();
        dbRef.close();
      },
    };
  } catch (err) {
    await app?.close().catch(() => undefined);
    await closeServer();
    db?.close();
    throw err;
  }
}
