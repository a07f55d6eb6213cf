// oidc-provider storage adapter on the devhome SQLite database. One table holds every model
// (sessions, interactions, clients, grants, device codes, tokens ...) as JSON, keyed by (model, id), with
// the few secondary keys oidc-provider looks records up by: user code (device flow), uid (sessions)
// and grant id (revocation of everything a grant issued).
import type { Adapter, AdapterPayload } from "oidc-provider";
import type { DevhomeDb } from "../storage.js";

const SCHEMA = `
CREATE TABLE IF NOT EXISTS oauth_store (
  model TEXT NOT NULL,
  id TEXT NOT NULL,
  payload TEXT NOT NULL,
  grant_id TEXT,
  user_code TEXT,
  uid TEXT,
  expires_at INTEGER,
  PRIMARY KEY (model, id)
);
CREATE INDEX IF NOT EXISTS oauth_store_grant ON oauth_store (grant_id);
CREATE INDEX IF NOT EXISTS oauth_store_user_code ON oauth_store (model, user_code);
CREATE INDEX IF NOT EXISTS oauth_store_uid ON oauth_store (model, uid);
`;

/** Models whose records carry a grantId and must go when the grant is revoked. */
const GRANTABLE = new Set(["AccessToken", "AuthorizationCode", "RefreshToken", "DeviceCode", "BackchannelAuthenticationRequest"]);

/** An expired device code must still be found, so that polling answers `expired_token` (RFC 8628 §3.5) rather
 *  than `invalid_grant`, and the code page says "expired"; oidc-provider checks expiry itself after finding it. */
const EXPIRED_DEVICE_CODE_GRACE_MS = 3600_000;

interface Row {
  payload: string;
  expires_at: number | null;
}

export function ensureOAuthSchema(db: DevhomeDb): void {
  db.exec(SCHEMA);
}

/** Returns the adapter class oidc-provider instantiates once per model name. */
export function sqliteAdapter(db: DevhomeDb, now: () => number = Date.now): new (name: string) => Adapter {
  ensureOAuthSchema(db);
  const upsert = db.prepare(
    `INSERT INTO oauth_store (model, id, payload, grant_id, user_code, uid, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?)
     ON CONFLICT (model, id) DO UPDATE SET payload = excluded.payload, grant_id = excluded.grant_id,
       user_code = excluded.user_code, uid = excluded.uid, expires_at = excluded.expires_at`,
  );
  const byId = db.prepare<[string, string], Row>("SELECT payload, expires_at FROM oauth_store WHERE model = ? AND id = ?");
  const byUserCode = db.prepare<[string, string], Row>("SELECT payload, expires_at FROM oauth_store WHERE model = ? AND user_code = ?");
  const byUid = db.prepare<[string, string], Row>("SELECT payload, expires_at FROM oauth_store WHERE model = ? AND uid = ?");
  const remove = db.prepare("DELETE FROM oauth_store WHERE model = ? AND id = ?");
  const removeGrant = db.prepare("DELETE FROM oauth_store WHERE grant_id = ?");
  // Rows are purged a while after expiry (see EXPIRED_DEVICE_CODE_GRACE_MS); reads of other models filter exactly.
  const purgeExpired = db.prepare("DELETE FROM oauth_store WHERE expires_at IS NOT NULL AND expires_at < ?");

  // Expired rows are filtered on read; deleting them now and then keeps the file from growing.
  let lastPurge = 0;
  const live = (row: Row | undefined, graceMs: number): AdapterPayload | undefined => {
    const t = now();
    if (t - lastPurge > 60_000) {
      lastPurge = t;
      purgeExpired.run(t - EXPIRED_DEVICE_CODE_GRACE_MS);
    }
    if (!row || (row.expires_at !== null && row.expires_at + graceMs <= t)) return undefined;
    return JSON.parse(row.payload) as AdapterPayload;
  };

  return class SqliteAdapter implements Adapter {
    private readonly graceMs: number;
    constructor(private readonly model: string) {
      this.graceMs = model === "DeviceCode" ? EXPIRED_DEVICE_CODE_GRACE_MS : 0;
    }

    async upsert(id: string, payload: AdapterPayload, expiresIn?: number): Promise<void> {
      const grantId = GRANTABLE.has(this.model) && typeof payload.grantId === "string" ? payload.grantId : null;
      upsert.run(
        this.model,
        id,
        JSON.stringify(payload),
        grantId,
        typeof payload.userCode === "string" ? payload.userCode : null,
        typeof payload.uid === "string" ? payload.uid : null,
        expiresIn ? now() + expiresIn * 1000 : null,
      );
    }

    async find(id: string): Promise<AdapterPayload | undefined> {
      return live(byId.get(this.model, id), this.graceMs);
    }

    async findByUserCode(userCode: string): Promise<AdapterPayload | undefined> {
      return live(byUserCode.get(this.model, userCode), this.graceMs);
    }

    async findByUid(uid: string): Promise<AdapterPayload | undefined> {
      return live(byUid.get(this.model, uid), this.graceMs);
    }

    async consume(id: string): Promise<void> {
      const row = byId.get(this.model, id);
      if (!row) return;
      const payload = JSON.parse(row.payload) as AdapterPayload;
      payload.consumed = Math.floor(now() / 1000);
      db.prepare("UPDATE oauth_store SET payload = ? WHERE model = ? AND id = ?").run(JSON.stringify(payload), this.model, id);
    }

    async destroy(id: string): Promise<void> {
      remove.run(this.model, id);
    }

    async revokeByGrantId(grantId: string): Promise<void> {
      removeGrant.run(grantId);
    }
  };
}
