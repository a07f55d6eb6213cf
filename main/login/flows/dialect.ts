// Where the two versions of MSC4108 differ in what the flows say and read, in one place. Everything
// else (every other message, the order, the failure reasons) is the same in both, so the flows are one
// implementation that asks its run's dialect:
//   - how do I tell the peer my homeserver (existing device, m.login.protocols): 2025 `base_url`, the
//     base URL; 2024 `homeserver`, the server name (as matrix-js-sdk sends `client.getDomain()`);
//   - what homeserver did the peer name (new device, from m.login.protocols or a reciprocate QR):
//     2025 a base URL; 2024 a server name, to be resolved (main/login/matrix/homeserver.ts) — or, from the
//     Rust SDK's 2024 variant, a URL in `homeserver`, taken as a base URL.
// `m.login.failure`'s `homeserver` is a server name in both versions.
import { DEVICE_AUTHORIZATION_GRANT, MessageError, type ProtocolsMessage } from "./messages.js";
import type { HomeserverRef, ProtocolVersion } from "./ports.js";

export interface OwnHomeserver {
  baseUrl: string;
  serverName: string;
}

export interface Dialect {
  readonly version: ProtocolVersion;
  /** m.login.protocols as this version writes it. */
  protocolsMessage(home: OwnHomeserver, protocols?: string[]): ProtocolsMessage;
  /** The homeserver the peer named in m.login.protocols. Throws MessageError if it names none this version reads. */
  namedHomeserver(message: ProtocolsMessage): HomeserverRef;
}

function isUrl(value: string): boolean {
  return /^https?:\/\//i.test(value);
}

const dialect2025: Dialect = Object.freeze({
  version: "2025" as const,
  protocolsMessage: (home: OwnHomeserver, protocols = [DEVICE_AUTHORIZATION_GRANT]): ProtocolsMessage => ({ type: "m.login.protocols", protocols, base_url: home.baseUrl }),
  namedHomeserver(message: ProtocolsMessage): HomeserverRef {
    if (message.base_url !== undefined) return { baseUrl: message.base_url };
    // The 2024 field name from a peer that mixes the versions: read it as 2024 does.
    if (message.homeserver !== undefined) return isUrl(message.homeserver) ? { baseUrl: message.homeserver } : { serverName: message.homeserver };
    throw new MessageError('m.login.protocols: no "base_url"');
  },
});

const dialect2024: Dialect = Object.freeze({
  version: "2024" as const,
  protocolsMessage: (home: OwnHomeserver, protocols = [DEVICE_AUTHORIZATION_GRANT]): ProtocolsMessage => ({ type: "m.login.protocols", protocols, homeserver: home.serverName }),
  namedHomeserver(message: ProtocolsMessage): HomeserverRef {
    if (message.homeserver !== undefined) return isUrl(message.homeserver) ? { baseUrl: message.homeserver } : { serverName: message.homeserver };
    if (message.base_url !== undefined) return { baseUrl: message.base_url };
    throw new MessageError('m.login.protocols: no "homeserver"');
  },
});

export function dialectFor(version: ProtocolVersion): Dialect {
  return version === "2024" ? dialect2024 : dialect2025;
}

/** The server name of a user id (`@alice:example.org:8448` → `example.org:8448`). */
export function serverNameOf(userId: string): string {
  return userId.slice(userId.indexOf(":") + 1);
}
