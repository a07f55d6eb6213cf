// The fixes, in the operator's terms: the nginx or Traefik directive, the Synapse or MAS setting.
// One place for them, so the same fault gets the same advice whichever check found it.

/** The rendezvous paths a proxy must route (Synapse serves the session URLs of the 2024 version under /_synapse/client). */
export const PATHS_2024 = "/_matrix/client/unstable/org.matrix.msc4108/rendezvous and /_synapse/client/rendezvous";
export const PATHS_2025 = "/_matrix/client/unstable/io.element.msc4388/rendezvous and /_matrix/client/v1/rendezvous";

export const FIX = {
  unreachable: (host: string) => `Check that ${host} is up and reachable from here (DNS, firewall, the port), and that the proxy in front of the homeserver is running.`,
  tlsError:
    "Install a certificate that chains to a public CA and names this host, with the full chain (nginx: ssl_certificate /etc/letsencrypt/live/<host>/fullchain.pem;). Element X and browsers refuse any other.",
  plainHttp:
    "Serve the homeserver over https (a Let's Encrypt certificate, e.g. certbot --nginx) and publish the https URL in /.well-known/matrix/client: Element X and browsers refuse plain http.",
  plainHttpLoopback: "Fine for a local test on this machine; a real deployment needs https.",
  notJson:
    "Forward /_matrix to the homeserver (nginx: location /_matrix { proxy_pass http://<synapse>; }), or give doctor the homeserver's own URL (m.homeserver.base_url of /.well-known/matrix/client).",
  redirectLoop: "Remove the redirect loop in the proxy (nginx: a return 301/302 or rewrite that matches its own target; Traefik: redirectRegex/redirectScheme middlewares).",
  wellKnown: (name: string) =>
    `Serve https://${name}/.well-known/matrix/client as JSON {"m.homeserver": {"base_url": "https://<homeserver host>"}} with Access-Control-Allow-Origin: *, or give doctor the homeserver's URL.`,
  wellKnownCors: "Add Access-Control-Allow-Origin: * to /.well-known/matrix/client (nginx: add_header Access-Control-Allow-Origin * always;), or Element Web cannot discover the homeserver.",
  advertise2024:
    "Synapse: experimental_features: msc4108_enabled: true (or msc4108_delegation_endpoint: <URL of a rendezvous server>); both need matrix_authentication_service.enabled. Element's clients offer sign in with QR only when /versions lists org.matrix.msc4108.",
  noQrAtAll:
    "Enable at least one version. Synapse: experimental_features: msc4108_enabled: true (the 2024 version Element ships) and/or msc4388_mode: open (the 2025 version); both need MAS (matrix_authentication_service.enabled: true).",
  versionsCors: "Add Access-Control-Allow-Origin: * to /_matrix responses (Synapse does; a proxy must not remove it), or Element Web cannot use this homeserver.",
  oauthMissing:
    "Sign in with QR needs OAuth 2.0 sign-in (MAS): Synapse matrix_authentication_service: {enabled: true, endpoint: <MAS URL>, secret: …}, and the proxy must forward /_matrix/client/v1/auth_metadata (and /_matrix/client/unstable/org.matrix.msc2965/auth_metadata) to Synapse.",
  oauthStableMissing:
    "Forward /_matrix/client/v1/auth_metadata to Synapse (Synapse ≥ 1.136 serves it when /versions lists v1.15): matrix-js-sdk then asks only the stable path.",
  oauthInvalid: "Upgrade MAS, or fix the metadata it publishes: Element's clients refuse metadata without these fields.",
  deviceGrant:
    "MAS: oauth: device_code_grant_enabled: true (available since MAS 1.18, on by default there; older MAS: upgrade). The metadata must list urn:ietf:params:oauth:grant-type:device_code and a device_authorization_endpoint.",
  registration:
    "MAS offers dynamic client registration (/oauth2/registration) by default: make sure the proxy routes it to MAS. Clients without a pre-registered client id cannot sign in otherwise.",
  route2024: (why: string) =>
    `${why} Route ${PATHS_2024} to the Synapse main process (nginx: location ~ ^(/_matrix/client/unstable/org\\.matrix\\.msc4108/rendezvous|/_synapse/client/rendezvous) { proxy_pass http://<synapse main>; }); workers do not serve them.`,
  sessionUrlPath: "Forward /_synapse/client to Synapse (nginx: location /_synapse/client { proxy_pass http://<synapse main>; }): the 2024 session URLs live there.",
  publicBaseUrl:
    "The session URL must name the origin clients use. nginx: proxy_set_header Host $http_host; (keeps the port; $host drops it) and proxy_set_header X-Forwarded-Proto $scheme; Synapse: public_baseurl: https://<homeserver host>/; qr-login server: public_base_url.",
  redirectMethod: "Delegate with 307 or 308 (Synapse's msc4108_delegation_endpoint does): browsers and matrix-js-sdk re-send a POST redirected with 301/302/303 as a GET.",
  weakEtag:
    "nginx: gzip off; in the location of the rendezvous paths (or take text/plain out of gzip_types): nginx ignores Cache-Control: no-transform and turns the ETag of anything it compresses into W/\"…\", which Element then sends back and gets 412. Traefik: add text/plain to excludedContentTypes of the compress middleware on that router.",
  etagMissing:
    "Pass the ETag header through unchanged: no proxy_hide_header ETag in nginx, no headers middleware removing it in Traefik, no CDN rewriting. Element cannot continue without it.",
  conditional:
    "Forward If-Match and If-None-Match to the homeserver unchanged (nginx does by default: look for proxy_set_header If-Match \"\" / If-None-Match \"\", proxy_cache, or a CDN/WAF rewriting conditional requests).",
  contentType:
    "Answer 2024 payloads as exactly text/plain: remove charset utf-8; (or the charset_types covering text/plain) from the nginx location of the rendezvous paths. matrix-js-sdk ignores a payload labelled text/plain; charset=utf-8 and the sign-in stalls.",
  noSharedSessions:
    "Send every rendezvous request to the one process that holds the sessions: Synapse keeps them in the main process's memory, so route " +
    `${PATHS_2024} and ${PATHS_2025} to the main process, never round-robin to workers; several qr-login server instances need a shared store (store: redis://…).`,
  noCache: "Do not cache the rendezvous paths: nginx proxy_cache off; (no proxy_ignore_headers Cache-Control); CDNs: bypass the cache for these paths.",
  cors2024:
    "Let the homeserver's CORS headers through, or set exactly these (nginx add_header … always; Traefik headers middleware): Access-Control-Allow-Origin: *; Access-Control-Allow-Methods: GET, HEAD, POST, PUT, DELETE, OPTIONS; Access-Control-Allow-Headers: Content-Type, If-Match, If-None-Match, Authorization; Access-Control-Expose-Headers: ETag (Traefik: accessControlAllowOriginList, accessControlAllowMethods, accessControlAllowHeaders, accessControlExposeHeaders).",
  cors2025:
    "Let the homeserver's CORS headers through, or set: Access-Control-Allow-Origin: *; Access-Control-Allow-Methods: GET, HEAD, POST, PUT, DELETE, OPTIONS; Access-Control-Allow-Headers: X-Requested-With, Content-Type, Authorization (nginx add_header … always; Traefik headers middleware).",
  duplicateCors:
    "Remove the proxy's own add_header Access-Control-Allow-Origin (or Traefik's accessControlAllowOriginList) for these paths: the homeserver already sends one, and browsers refuse an answer that carries two.",
  enable2025: "Synapse: experimental_features: msc4388_mode: open (or authenticated; Synapse ≥ 1.151, which also needs MAS).",
  route2025: `If the homeserver serves the 2025 version, route ${PATHS_2025} to it (Synapse: its main process).`,
  serverCreate: "The rendezvous server itself refuses to create a session: see its log, its mode (open/authenticated) and its limits.",
  sessionIds: "The rendezvous server must hand out ids of at most 255 bytes of [A-Za-z0-9._~-] (MSC4388's opaque identifiers): upgrade it.",
  idempotent:
    "Synapse ≥ 1.157 accepts a retried PUT whose answer was lost (MSC4388's idempotent write): upgrade. Until then a lost answer on a flaky network ends the sign-in.",
  staleWrites: "The server must refuse a write with an outdated sequence_token (409): upgrade the rendezvous server, and check that nothing in front of it retries or rewrites PUTs.",
  proxyBody: "nginx: client_max_body_size 16k; or more in the location of the rendezvous paths (the default 1m is fine: look for a smaller value); Traefik: a buffering middleware's maxRequestBodyBytes ≥ 16384.",
  serverBody: "The server's payload limit is below the 4096 bytes both versions require: the last message of a sign-in (the keys) will not fit. Raise it.",
  longPollCut: (boundS: number) =>
    `nginx: proxy_read_timeout ${Math.max(60, Math.ceil(boundS * 2))}s; (above the ${boundS} s the server holds a GET) in the location of the rendezvous paths; Traefik: serversTransport forwardingTimeouts.responseHeaderTimeout and entryPoints.<name>.transport.respondingTimeouts.writeTimeout 0 or above ${boundS} s. Or lower the server's bound (qr-login server: long_poll_ms).`,
  clock: "Synchronise the clocks with NTP (chrony or systemd-timesyncd) on the homeserver and on the proxy, and check this computer's clock: the figure is the difference between them.",
} as const;
