// The CS API's tables (prefix cs_) in the development homeserver's SQLite database. Everything that
// clients can observe through /sync is ordered by one stream: cs_stream's autoincrement id is the
// sync token, so "what changed since token N" is a single range query.
import type { DevhomeDb } from "../storage.js";
import type { JsonObject } from "./json.js";

const SCHEMA = `
CREATE TABLE IF NOT EXISTS cs_devices (
  user_id TEXT NOT NULL, device_id TEXT NOT NULL, display_name TEXT,
  created_ts INTEGER NOT NULL, last_seen_ts INTEGER,
  PRIMARY KEY (user_id, device_id));
CREATE TABLE IF NOT EXISTS cs_device_keys (
  user_id TEXT NOT NULL, device_id TEXT NOT NULL, key_json TEXT NOT NULL,
  PRIMARY KEY (user_id, device_id));
CREATE TABLE IF NOT EXISTS cs_one_time_keys (
  user_id TEXT NOT NULL, device_id TEXT NOT NULL, algorithm TEXT NOT NULL, key_id TEXT NOT NULL, key_json TEXT NOT NULL,
  PRIMARY KEY (user_id, device_id, algorithm, key_id));
CREATE TABLE IF NOT EXISTS cs_fallback_keys (
  user_id TEXT NOT NULL, device_id TEXT NOT NULL, algorithm TEXT NOT NULL, key_id TEXT NOT NULL, key_json TEXT NOT NULL,
  used INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (user_id, device_id, algorithm));
CREATE TABLE IF NOT EXISTS cs_cross_signing_keys (
  user_id TEXT NOT NULL, usage TEXT NOT NULL, key_json TEXT NOT NULL,
  PRIMARY KEY (user_id, usage));
-- Signatures uploaded through keys/signatures/upload, merged into the signed object on keys/query.
-- target_key is a device id or a cross-signing public key (base64).
CREATE TABLE IF NOT EXISTS cs_signatures (
  target_user TEXT NOT NULL, target_key TEXT NOT NULL, signer_user TEXT NOT NULL, signer_key_id TEXT NOT NULL,
  signature TEXT NOT NULL,
  PRIMARY KEY (target_user, target_key, signer_user, signer_key_id));
CREATE TABLE IF NOT EXISTS cs_account_data (
  user_id TEXT NOT NULL, type TEXT NOT NULL, content TEXT NOT NULL,
  PRIMARY KEY (user_id, type));
CREATE TABLE IF NOT EXISTS cs_backup_versions (
  user_id TEXT NOT NULL, version INTEGER NOT NULL, algorithm TEXT NOT NULL, auth_data TEXT NOT NULL,
  etag INTEGER NOT NULL DEFAULT 0, deleted INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (user_id, version));
CREATE TABLE IF NOT EXISTS cs_backup_keys (
  user_id TEXT NOT NULL, version INTEGER NOT NULL, room_id TEXT NOT NULL, session_id TEXT NOT NULL, data TEXT NOT NULL,
  PRIMARY KEY (user_id, version, room_id, session_id));
CREATE TABLE IF NOT EXISTS cs_filters (
  user_id TEXT NOT NULL, filter_id INTEGER NOT NULL, filter TEXT NOT NULL,
  PRIMARY KEY (user_id, filter_id));
CREATE TABLE IF NOT EXISTS cs_txns (
  user_id TEXT NOT NULL, device_id TEXT NOT NULL, path TEXT NOT NULL, ts INTEGER NOT NULL,
  PRIMARY KEY (user_id, device_id, path));
-- kind: 'to_device' (for user_id/device_id; payload = the event), 'device_list' (user_id's devices or keys
-- changed; every syncing user sees it), 'account_data' (user_id's account data of type payload changed).
CREATE TABLE IF NOT EXISTS cs_stream (
  stream_id INTEGER PRIMARY KEY AUTOINCREMENT, kind TEXT NOT NULL, user_id TEXT NOT NULL, device_id TEXT,
  payload TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS cs_stream_target ON cs_stream (user_id, device_id, stream_id);
`;

export interface DeviceRow {
  device_id: string;
  display_name: string | null;
  created_ts: number;
  last_seen_ts: number | null;
}

export interface BackupVersionRow {
  version: number;
  algorithm: string;
  auth_data: string;
  etag: number;
}

export interface StreamRow {
  stream_id: number;
  kind: "to_device" | "device_list" | "account_data";
  user_id: string;
  device_id: string | null;
  payload: string;
}

export const parseJson = (s: string): JsonObject => JSON.parse(s) as JsonObject;

/** Thin typed access to the cs_ tables; no policy here, the routes decide what is allowed. */
export class CsStore {
  constructor(readonly db: DevhomeDb) {
    db.exec(SCHEMA);
  }

  tx<T>(fn: () => T): T {
    return this.db.transaction(fn)();
  }

  // ---- stream
  append(kind: StreamRow["kind"], userId: string, deviceId: string | null, payload: string): number {
    const r = this.db
      .prepare("INSERT INTO cs_stream (kind, user_id, device_id, payload) VALUES (?, ?, ?, ?)")
      .run(kind, userId, deviceId, payload);
    return Number(r.lastInsertRowid);
  }

  maxStreamId(): number {
    const row = this.db.prepare("SELECT seq FROM sqlite_sequence WHERE name = 'cs_stream'").get() as { seq: number } | undefined;
    return row?.seq ?? 0;
  }

  /** Rows visible to (userId, deviceId) after `since` (exclusive), up to `until` (inclusive). */
  streamFor(userId: string, deviceId: string, since: number, until: number): StreamRow[] {
    return this.db
      .prepare(
        `SELECT * FROM cs_stream WHERE stream_id > ? AND stream_id <= ? AND (
           (kind = 'to_device' AND user_id = ? AND device_id = ?) OR kind = 'device_list' OR
           (kind = 'account_data' AND user_id = ?)) ORDER BY stream_id`,
      )
      .all(since, until, userId, deviceId, userId) as StreamRow[];
  }

  /** To-device messages the device has acknowledged (by syncing with since >= their id) are deleted. */
  ackToDevice(userId: string, deviceId: string, upTo: number): void {
    this.db
      .prepare("DELETE FROM cs_stream WHERE kind = 'to_device' AND user_id = ? AND device_id = ? AND stream_id <= ?")
      .run(userId, deviceId, upTo);
  }

  pendingToDevice(userId: string, deviceId: string, since: number): StreamRow[] {
    return this.db
      .prepare("SELECT * FROM cs_stream WHERE kind = 'to_device' AND user_id = ? AND device_id = ? AND stream_id > ? ORDER BY stream_id")
      .all(userId, deviceId, since) as StreamRow[];
  }

  // ---- devices
  getDevice(userId: string, deviceId: string): DeviceRow | undefined {
    return this.db
      .prepare("SELECT device_id, display_name, created_ts, last_seen_ts FROM cs_devices WHERE user_id = ? AND device_id = ?")
      .get(userId, deviceId) as DeviceRow | undefined;
  }

  listDevices(userId: string): DeviceRow[] {
    return this.db
      .prepare("SELECT device_id, display_name, created_ts, last_seen_ts FROM cs_devices WHERE user_id = ? ORDER BY created_ts, device_id")
      .all(userId) as DeviceRow[];
  }

  /** True when the device was created by this call. */
  insertDevice(userId: string, deviceId: string, displayName: string | null, now: number): boolean {
    const r = this.db
      .prepare("INSERT OR IGNORE INTO cs_devices (user_id, device_id, display_name, created_ts) VALUES (?, ?, ?, ?)")
      .run(userId, deviceId, displayName, now);
    return r.changes === 1;
  }

  setDisplayName(userId: string, deviceId: string, name: string | null): void {
    this.db.prepare("UPDATE cs_devices SET display_name = ? WHERE user_id = ? AND device_id = ?").run(name, userId, deviceId);
  }

  touchDevice(userId: string, deviceId: string, now: number): void {
    this.db.prepare("UPDATE cs_devices SET last_seen_ts = ? WHERE user_id = ? AND device_id = ?").run(now, userId, deviceId);
  }

  deleteDevice(userId: string, deviceId: string): void {
    for (const t of ["cs_devices", "cs_device_keys", "cs_one_time_keys", "cs_fallback_keys", "cs_txns"]) {
      this.db.prepare(`DELETE FROM ${t} WHERE user_id = ? AND device_id = ?`).run(userId, deviceId);
    }
    this.db.prepare("DELETE FROM cs_signatures WHERE target_user = ? AND target_key = ?").run(userId, deviceId);
    this.db.prepare("DELETE FROM cs_stream WHERE kind = 'to_device' AND user_id = ? AND device_id = ?").run(userId, deviceId);
  }

  // ---- device keys
  getDeviceKeys(userId: string, deviceId: string): JsonObject | undefined {
    const row = this.db.prepare("SELECT key_json FROM cs_device_keys WHERE user_id = ? AND device_id = ?").get(userId, deviceId) as
      | { key_json: string }
      | undefined;
    return row && parseJson(row.key_json);
  }

  putDeviceKeys(userId: string, deviceId: string, keys: JsonObject): void {
    this.db
      .prepare("INSERT OR REPLACE INTO cs_device_keys (user_id, device_id, key_json) VALUES (?, ?, ?)")
      .run(userId, deviceId, JSON.stringify(keys));
  }

  // ---- one-time and fallback keys
  getOneTimeKey(userId: string, deviceId: string, algorithm: string, keyId: string): string | undefined {
    const row = this.db
      .prepare("SELECT key_json FROM cs_one_time_keys WHERE user_id = ? AND device_id = ? AND algorithm = ? AND key_id = ?")
      .get(userId, deviceId, algorithm, keyId) as { key_json: string } | undefined;
    return row?.key_json;
  }

  putOneTimeKey(userId: string, deviceId: string, algorithm: string, keyId: string, keyJson: string): void {
    this.db
      .prepare("INSERT INTO cs_one_time_keys (user_id, device_id, algorithm, key_id, key_json) VALUES (?, ?, ?, ?, ?)")
      .run(userId, deviceId, algorithm, keyId, keyJson);
  }

  /** Removes a device's one-time and fallback keys (its Olm account was replaced). */
  deleteDeviceOneTimeKeys(userId: string, deviceId: string): void {
    this.db.prepare("DELETE FROM cs_one_time_keys WHERE user_id = ? AND device_id = ?").run(userId, deviceId);
    this.db.prepare("DELETE FROM cs_fallback_keys WHERE user_id = ? AND device_id = ?").run(userId, deviceId);
  }

  countOneTimeKeys(userId: string, deviceId: string): Record<string, number> {
    const rows = this.db
      .prepare("SELECT algorithm, COUNT(*) AS n FROM cs_one_time_keys WHERE user_id = ? AND device_id = ? GROUP BY algorithm")
      .all(userId, deviceId) as { algorithm: string; n: number }[];
    return Object.fromEntries(rows.map((r) => [r.algorithm, r.n]));
  }

  /** Removes and returns one one-time key of `algorithm`, oldest key id first. */
  takeOneTimeKey(userId: string, deviceId: string, algorithm: string): { key_id: string; key_json: string } | undefined {
    const row = this.db
      .prepare("SELECT key_id, key_json FROM cs_one_time_keys WHERE user_id = ? AND device_id = ? AND algorithm = ? ORDER BY key_id LIMIT 1")
      .get(userId, deviceId, algorithm) as { key_id: string; key_json: string } | undefined;
    if (row) {
      this.db
        .prepare("DELETE FROM cs_one_time_keys WHERE user_id = ? AND device_id = ? AND algorithm = ? AND key_id = ?")
        .run(userId, deviceId, algorithm, row.key_id);
    }
    return row;
  }

  putFallbackKey(userId: string, deviceId: string, algorithm: string, keyId: string, keyJson: string): void {
    this.db
      .prepare(
        `INSERT INTO cs_fallback_keys (user_id, device_id, algorithm, key_id, key_json, used) VALUES (?, ?, ?, ?, ?, 0)
         ON CONFLICT (user_id, device_id, algorithm) DO UPDATE SET
           used = CASE WHEN key_id = excluded.key_id AND key_json = excluded.key_json THEN used ELSE 0 END,
           key_id = excluded.key_id, key_json = excluded.key_json`,
      )
      .run(userId, deviceId, algorithm, keyId, keyJson);
  }

  /** Fallback keys are handed out repeatedly but marked used, as the spec describes. */
  useFallbackKey(userId: string, deviceId: string, algorithm: string): { key_id: string; key_json: string } | undefined {
    const row = this.db
      .prepare("SELECT key_id, key_json FROM cs_fallback_keys WHERE user_id = ? AND device_id = ? AND algorithm = ?")
      .get(userId, deviceId, algorithm) as { key_id: string; key_json: string } | undefined;
    if (row) {
      this.db.prepare("UPDATE cs_fallback_keys SET used = 1 WHERE user_id = ? AND device_id = ? AND algorithm = ?").run(userId, deviceId, algorithm);
    }
    return row;
  }

  unusedFallbackKeyTypes(userId: string, deviceId: string): string[] {
    const rows = this.db
      .prepare("SELECT algorithm FROM cs_fallback_keys WHERE user_id = ? AND device_id = ? AND used = 0 ORDER BY algorithm")
      .all(userId, deviceId) as { algorithm: string }[];
    return rows.map((r) => r.algorithm);
  }

  // ---- cross-signing keys and signatures
  getCrossSigningKey(userId: string, usage: string): JsonObject | undefined {
    const row = this.db.prepare("SELECT key_json FROM cs_cross_signing_keys WHERE user_id = ? AND usage = ?").get(userId, usage) as
      | { key_json: string }
      | undefined;
    return row && parseJson(row.key_json);
  }

  putCrossSigningKey(userId: string, usage: string, key: JsonObject): void {
    this.db
      .prepare("INSERT OR REPLACE INTO cs_cross_signing_keys (user_id, usage, key_json) VALUES (?, ?, ?)")
      .run(userId, usage, JSON.stringify(key));
  }

  putSignature(targetUser: string, targetKey: string, signerUser: string, signerKeyId: string, signature: string): void {
    this.db
      .prepare("INSERT OR REPLACE INTO cs_signatures (target_user, target_key, signer_user, signer_key_id, signature) VALUES (?, ?, ?, ?, ?)")
      .run(targetUser, targetKey, signerUser, signerKeyId, signature);
  }

  signaturesOn(targetUser: string, targetKey: string): { signer_user: string; signer_key_id: string; signature: string }[] {
    return this.db
      .prepare("SELECT signer_user, signer_key_id, signature FROM cs_signatures WHERE target_user = ? AND target_key = ?")
      .all(targetUser, targetKey) as { signer_user: string; signer_key_id: string; signature: string }[];
  }

  deleteSignaturesOn(targetUser: string, targetKey: string): void {
    this.db.prepare("DELETE FROM cs_signatures WHERE target_user = ? AND target_key = ?").run(targetUser, targetKey);
  }

  /** Signatures made by a key that no longer exists are dropped (a replaced self-signing key's, say). */
  deleteSignaturesBy(signerUser: string, signerKeyId: string): void {
    this.db.prepare("DELETE FROM cs_signatures WHERE signer_user = ? AND signer_key_id = ?").run(signerUser, signerKeyId);
  }

  // ---- account data
  getAccountData(userId: string, type: string): string | undefined {
    const row = this.db.prepare("SELECT content FROM cs_account_data WHERE user_id = ? AND type = ?").get(userId, type) as
      | { content: string }
      | undefined;
    return row?.content;
  }

  allAccountData(userId: string): { type: string; content: string }[] {
    return this.db.prepare("SELECT type, content FROM cs_account_data WHERE user_id = ? ORDER BY type").all(userId) as {
      type: string;
      content: string;
    }[];
  }

  putAccountData(userId: string, type: string, content: string): void {
    this.db.prepare("INSERT OR REPLACE INTO cs_account_data (user_id, type, content) VALUES (?, ?, ?)").run(userId, type, content);
  }

  // ---- key backup
  currentBackup(userId: string): BackupVersionRow | undefined {
    return this.db
      .prepare("SELECT version, algorithm, auth_data, etag FROM cs_backup_versions WHERE user_id = ? AND deleted = 0 ORDER BY version DESC LIMIT 1")
      .get(userId) as BackupVersionRow | undefined;
  }

  getBackup(userId: string, version: number): BackupVersionRow | undefined {
    return this.db
      .prepare("SELECT version, algorithm, auth_data, etag FROM cs_backup_versions WHERE user_id = ? AND version = ? AND deleted = 0")
      .get(userId, version) as BackupVersionRow | undefined;
  }

  createBackup(userId: string, algorithm: string, authData: string): number {
    const row = this.db.prepare("SELECT MAX(version) AS v FROM cs_backup_versions WHERE user_id = ?").get(userId) as { v: number | null };
    const version = (row.v ?? 0) + 1;
    this.db
      .prepare("INSERT INTO cs_backup_versions (user_id, version, algorithm, auth_data) VALUES (?, ?, ?, ?)")
      .run(userId, version, algorithm, authData);
    return version;
  }

  updateBackupAuthData(userId: string, version: number, authData: string): void {
    this.db.prepare("UPDATE cs_backup_versions SET auth_data = ? WHERE user_id = ? AND version = ?").run(authData, userId, version);
  }

  deleteBackup(userId: string, version: number): void {
    this.db.prepare("UPDATE cs_backup_versions SET deleted = 1 WHERE user_id = ? AND version = ?").run(userId, version);
    this.db.prepare("DELETE FROM cs_backup_keys WHERE user_id = ? AND version = ?").run(userId, version);
  }

  bumpBackupEtag(userId: string, version: number): number {
    this.db.prepare("UPDATE cs_backup_versions SET etag = etag + 1 WHERE user_id = ? AND version = ?").run(userId, version);
    return this.getBackup(userId, version)?.etag ?? 0;
  }

  countBackupKeys(userId: string, version: number): number {
    const row = this.db.prepare("SELECT COUNT(*) AS n FROM cs_backup_keys WHERE user_id = ? AND version = ?").get(userId, version) as { n: number };
    return row.n;
  }

  getBackupKey(userId: string, version: number, roomId: string, sessionId: string): JsonObject | undefined {
    const row = this.db
      .prepare("SELECT data FROM cs_backup_keys WHERE user_id = ? AND version = ? AND room_id = ? AND session_id = ?")
      .get(userId, version, roomId, sessionId) as { data: string } | undefined;
    return row && parseJson(row.data);
  }

  putBackupKey(userId: string, version: number, roomId: string, sessionId: string, data: JsonObject): void {
    this.db
      .prepare("INSERT OR REPLACE INTO cs_backup_keys (user_id, version, room_id, session_id, data) VALUES (?, ?, ?, ?, ?)")
      .run(userId, version, roomId, sessionId, JSON.stringify(data));
  }

  listBackupKeys(userId: string, version: number, roomId?: string, sessionId?: string): { room_id: string; session_id: string; data: string }[] {
    let sql = "SELECT room_id, session_id, data FROM cs_backup_keys WHERE user_id = ? AND version = ?";
    const args: (string | number)[] = [userId, version];
    if (roomId !== undefined) {
      sql += " AND room_id = ?";
      args.push(roomId);
    }
    if (sessionId !== undefined) {
      sql += " AND session_id = ?";
      args.push(sessionId);
    }
    return this.db.prepare(`${sql} ORDER BY room_id, session_id`).all(...args) as { room_id: string; session_id: string; data: string }[];
  }

  deleteBackupKeys(userId: string, version: number, roomId?: string, sessionId?: string): number {
    let sql = "DELETE FROM cs_backup_keys WHERE user_id = ? AND version = ?";
    const args: (string | number)[] = [userId, version];
    if (roomId !== undefined) {
      sql += " AND room_id = ?";
      args.push(roomId);
    }
    if (sessionId !== undefined) {
      sql += " AND session_id = ?";
      args.push(sessionId);
    }
    return this.db.prepare(sql).run(...args).changes;
  }

  // ---- filters and transactions
  putFilter(userId: string, filter: string): number {
    const row = this.db.prepare("SELECT MAX(filter_id) AS v FROM cs_filters WHERE user_id = ?").get(userId) as { v: number | null };
    const id = (row.v ?? -1) + 1;
    this.db.prepare("INSERT INTO cs_filters (user_id, filter_id, filter) VALUES (?, ?, ?)").run(userId, id, filter);
    return id;
  }

  getFilter(userId: string, id: number): string | undefined {
    const row = this.db.prepare("SELECT filter FROM cs_filters WHERE user_id = ? AND filter_id = ?").get(userId, id) as { filter: string } | undefined;
    return row?.filter;
  }

  /** Records a transaction; false when (user, device, path) was seen before (a retry). */
  recordTxn(userId: string, deviceId: string, path: string, now: number): boolean {
    const r = this.db.prepare("INSERT OR IGNORE INTO cs_txns (user_id, device_id, path, ts) VALUES (?, ?, ?, ?)").run(userId, deviceId, path, now);
    return r.changes === 1;
  }
}
