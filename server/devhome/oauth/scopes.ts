// Matrix OAuth 2.0 scopes (MSC2967 / Matrix spec "OAuth 2.0 API" scope section) and the policy the
// development homeserver applies to them, modelled on MAS's default policy:
// - `urn:matrix:client:api:*` grants the whole Client-Server API; `urn:matrix:client:device:<ID>` binds the
//   token to a device; the unstable prefix `urn:matrix:org.matrix.msc2967.client:` means the same;
// - stable and unstable forms must not be mixed in one request, at most one device scope, a device scope
//   needs the api scope, device ids need at least 10 characters.
// Device id characters: MSC2967 recommends RFC 3986 unreserved characters; MAS accepts the wider set below
// (scope-token-safe), and Element X really sends unpadded base64 ids containing '+' and '/'. We accept what MAS
// accepts so such clients work here as they do against matrix.org, and the CS API percent-decodes path ids.

import { SCOPE_PREFIXES, type ScopeFlavour } from "../../../contract/oauth.js";

export const OIDC_SCOPES = ["openid", "offline_access"] as const;

/** MAS's device-id character set, at least 10 characters. */
export const DEVICE_ID_PATTERN = /^[A-Za-z0-9._~!$&'()*+,;=:@/-]{10,}$/;

export class ScopeError extends Error {
  override readonly name = "ScopeError";
  constructor(
    readonly reason: "mixed_prefixes" | "multiple_devices" | "device_without_api" | "invalid_device_id" | "unknown_matrix_scope",
    message: string,
  ) {
    super(message);
  }
}

export interface MatrixScopes {
  /** Undefined when no Matrix scope was requested. */
  flavour?: ScopeFlavour;
  api: boolean;
  deviceId?: string;
  /** The Matrix scope tokens as requested, in order. */
  matrix: string[];
  /** Every other token (OIDC scopes, unknown scopes that oidc-provider will drop). */
  other: string[];
}

function classify(token: string): { flavour: ScopeFlavour; rest: string } | null {
  for (const flavour of ["stable", "unstable"] as const) {
    const prefix = SCOPE_PREFIXES[flavour];
    if (token.startsWith(prefix)) return { flavour, rest: token.slice(prefix.length) };
  }
  return null;
}

/** Parses and validates a space-separated scope string; throws ScopeError on a policy violation. */
export function parseMatrixScopes(scope: string | undefined): MatrixScopes {
  const out: MatrixScopes = { api: false, matrix: [], other: [] };
  for (const token of (scope ?? "").split(" ").filter(Boolean)) {
    const c = classify(token);
    if (!c) {
      out.other.push(token);
      continue;
    }
    if (out.flavour && out.flavour !== c.flavour) {
      throw new ScopeError("mixed_prefixes", "stable and unstable (org.matrix.msc2967) Matrix scopes must not be mixed in one request");
    }
    out.flavour = c.flavour;
    if (c.rest === "api:*") {
      out.api = true;
    } else if (c.rest.startsWith("device:")) {
      const id = c.rest.slice("device:".length);
      if (!DEVICE_ID_PATTERN.test(id)) {
        throw new ScopeError("invalid_device_id", `invalid device id in scope "${token}" (at least 10 characters of [A-Za-z0-9._~-] and friends)`);
      }
      if (out.deviceId !== undefined && out.deviceId !== id) {
        throw new ScopeError("multiple_devices", "only one device scope may be requested");
      }
      out.deviceId = id;
    } else {
      throw new ScopeError("unknown_matrix_scope", `unknown Matrix scope "${token}"`);
    }
    if (!out.matrix.includes(token)) out.matrix.push(token);
  }
  if (out.deviceId !== undefined && !out.api) {
    throw new ScopeError("device_without_api", "a device scope needs the urn:matrix:client:api:* scope");
  }
  return out;
}

/** Reads (without policy checks) the device id a granted token scope binds to, and whether it has the api scope. */
export function grantedMatrixAccess(scopes: readonly string[]): { api: boolean; deviceId?: string } {
  let api = false;
  let deviceId: string | undefined;
  for (const token of scopes) {
    const c = classify(token);
    if (!c) continue;
    if (c.rest === "api:*") api = true;
    else if (c.rest.startsWith("device:")) deviceId ??= c.rest.slice("device:".length);
  }
  return deviceId === undefined ? { api } : { api, deviceId };
}
