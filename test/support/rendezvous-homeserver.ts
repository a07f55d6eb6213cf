// A homeserver front for deployment tests: our rendezvous plugin (server/rendezvous) on one origin
// with /versions and the OAuth 2.0 metadata a homeserver serves, and nothing else. Unlike the
// development homeserver it builds 2024 session URLs from each request (Host, X-Forwarded-Proto from a
// trusted proxy) unless given a public base URL, takes a store from the test (two instances can
// share one, or not), and its limits are off, so a test can run the doctor against it many times.
import Fastify from "fastify";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { MemoryStore, rendezvousPlugin, type RendezvousApi, type RendezvousMode, type RendezvousStore } from "../../server/rendezvous/index.js";

export interface RendezvousHomeserverOptions {
  /** Port to listen on (default: a free one). */
  port?: number;
  apis?: readonly RendezvousApi[];
  mode?: RendezvousMode;
  /** Long-poll bound in ms (0 = off, the default here: most tests do not want to wait). */
  longPollMs?: number;
  /** Where 2024 session URLs start; unset: from the request's Host and scheme. */
  publicBaseUrl?: string;
  /** Share a store between instances (default: one of its own). */
  store?: RendezvousStore;
  /** The OAuth 2.0 metadata offers the device authorization grant (default true). */
  deviceGrant?: boolean;
  /** The access token that counts as signed in (authenticated mode). */
  accessToken?: string;
}

export interface RendezvousHomeserver {
  readonly url: string;
  readonly port: number;
  readonly store: RendezvousStore;
  close(): Promise<void>;
}

const DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code";

export async function startRendezvousHomeserver(o: RendezvousHomeserverOptions = {}): Promise<RendezvousHomeserver> {
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(o.port ?? 0, "127.0.0.1", () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  const url = `http://127.0.0.1:${port}/`;
  const store = o.store ?? new MemoryStore();
  // trustProxy: loopback only (the tests' nginx), as an operator behind a proxy configures it.
  const app = Fastify({ trustProxy: "127.0.0.1", serverFactory: (handler) => server.on("request", handler) });
  const apis = o.apis ?? ["2025", "2024"];
  const cors = { "access-control-allow-origin": "*" };
  app.get("/_matrix/client/versions", async (_req, reply) => reply.headers(cors).send({
    versions: ["v1.11", "v1.15"],
    unstable_features: apis.includes("2024") ? { "org.matrix.msc4108": true } : {},
  }));
  for (const path of ["/_matrix/client/v1/auth_metadata", "/_matrix/client/unstable/org.matrix.msc2965/auth_metadata"]) {
    app.get(path, async (req, reply) => {
      const issuer = `${req.protocol}://${req.host}/`;
      return reply.headers(cors).send({
        issuer,
        authorization_endpoint: `${issuer}oauth2/authorize`,
        token_endpoint: `${issuer}oauth2/token`,
        revocation_endpoint: `${issuer}oauth2/revoke`,
        registration_endpoint: `${issuer}oauth2/registration`,
        ...(o.deviceGrant === false ? {} : { device_authorization_endpoint: `${issuer}oauth2/device` }),
        response_types_supported: ["code"],
        response_modes_supported: ["query", "fragment"],
        grant_types_supported: ["authorization_code", "refresh_token", ...(o.deviceGrant === false ? [] : [DEVICE_GRANT])],
        code_challenge_methods_supported: ["S256"],
      });
    });
  }
  await app.register(rendezvousPlugin, {
    mode: o.mode ?? "open",
    apis,
    store,
    longPollMs: o.longPollMs ?? 0,
    ...(o.publicBaseUrl ? { publicBaseUrl: o.publicBaseUrl } : {}),
    limits: { createPerWindow: 0, requestsPerWindow: 0, maxSessionsPerIp: 0 },
    verifier: async (token) => (o.accessToken !== undefined && token === o.accessToken ? { userId: "@doctor:localhost" } : null),
    purgeIntervalMs: 0,
  });
  await app.ready();
  return {
    url, port, store,
    close: async () => {
      await app.close();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
