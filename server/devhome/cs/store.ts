// The CS API's tables (prefix cs_) in the development homeserver's SQLite database. Everything that
// clients can observe through /sync is ordered by one stream: cs_stream's autoincrement id is the
// sync token, so "what changed since token N" is a single range query.
import type { RunResult, Statement } from "better-sqlite3";
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

type Param = string | number | null;

/** Thin typed access to the cs_ tables; no policy here, the routes decide what is allowed. */
export class CsStore {
  /** Prepared once per SQL text: the routes run the same few statements over and over. */
  private readonly statements = new Map<string, Statement<Param[]>>();

  constructor(readonly db: DevhomeDb) {
    db.exec(SCHEMA);
  }

  tx<T>(fn: () => T): T {
    return this.db.transaction(fn)();
  }

  private statement(sql: string): Statement<Param[]> {
    let stmt = this.statements.get(sql);
    if (!stmt) this.statements.set(sql, (stmt = this.db.prepare<Param[]>(sql)));
    return stmt;
  }

  private one<T>(sql: string, ...params: Param[]): T | undefined {
    return this.statement(sql).get(...params) as T | undefined;
  }

  private all<T>(sql: string, ...params: Param[]): T[] {
    return this.statement(sql).all(...params) as T[];
  }

  private run(sql: string, ...params: Param[]): RunResult {
    return this.statement(sql).run(...params);
  }

  /** The JSON object in the one column `sql` selects, if a row matches. */
  private json(sql: string, ...params: Param[]): JsonObject | undefined {
    const row = this.one<Record<string, string>>(sql, ...params);
    return row && parseJson(Object.values(row)[0]!);
  }

  // ---- stream
  append(kind: StreamRow["kind"], userId: string, deviceId: string | null, payload: string): number {
    return Number(this.run("INSERT INTO cs_stream (kind, user_id, device_id, payload) VALUES (?, ?, ?, ?)", kind, userId, deviceId, payload).lastInsertRowid);
  }

  maxStreamId(): number {
    return this.one<{ seq: number }>("SELECT seq FROM sqlite_sequence WHERE name = 'cs_stream'")?.seq ?? 0;
  }

  /** Rows visible to (userId, deviceId) after `since` (exclusive), up to `until` (inclusive). */
  streamFor(userId: string, deviceId: string, since: number, until: number): StreamRow[] {
    return this.all<StreamRow>(
      `SELECT * FROM cs_stream WHERE stream_id > ? AND stream_id <= ? AND (
         (kind = 'to_device' AND user_id = ? AND device_id = ?) OR kind = 'device_list' OR
         (kind = 'account_data' AND user_id = ?)) ORDER BY stream_id`,
      since, until, userId, deviceId, userId,
    );
  }

  /** To-device messages the device has acknowledged (by syncing with since >= their id) are deleted. */
  ackToDevice(userId: string, deviceId: string, upTo: number): void {
    this.run("DELETE FROM cs_stream WHERE kind = 'to_device' AND user_id = ? AND device_id = ? AND stream_id <= ?", userId, deviceId, upTo);
  }

  pendingToDevice(userId: string, deviceId: string, since: number): StreamRow[] {
    return this.all<StreamRow>("SELECT * FROM cs_stream WHERE kind = 'to_device' AND user_id = ? AND device_id = ? AND stream_id > ? ORDER BY stream_id", userId, deviceId, since);
  }

  // ---- devices
  getDevice(userId: string, deviceId: string): DeviceRow | undefined {
    return this.one<DeviceRow>("SELECT device_id, display_name, created_ts, last_seen_ts FROM cs_devices WHERE user_id = ? AND device_id = ?", userId, deviceId);
  }

  listDevices(userId: string): DeviceRow[] {
    return this.all<DeviceRow>("SELECT device_id, display_name, created_ts, last_seen_ts FROM cs_devices WHERE user_id = ? ORDER BY created_ts, device_id", userId);
  }

  /** True when the device was created by this call. */
  insertDevice(userId: string, deviceId: string, displayName: string | null, now: number): boolean {
    return this.run("INSERT OR IGNORE INTO cs_devices (user_id, device_id, display_name, created_ts) VALUES (?, ?, ?, ?)", userId, deviceId, displayName, now).changes === 1;
  }

  setDisplayName(userId: string, deviceId: string, name: string | null): void {
    this.run("UPDATE cs_devices SET display_name = ? WHERE user_id = ? AND device_id = ?", name, userId, deviceId);
  }

  touchDevice(userId: string, deviceId: string, now: number): void {
    this.run("UPDATE cs_devices SET last_seen_ts = ? WHERE user_id = ? AND device_id = ?", now, userId, deviceId);
  }

  deleteDevice(userId: string, deviceId: string): void {
    for (const t of ["cs_devices", "cs_device_keys", "cs_one_time_keys", "cs_fallback_keys", "cs_txns"]) {
      this.run(`DELETE FROM ${t} WHERE user_id = ? AND device_id = ?`, userId, deviceId);
    }
    this.deleteSignaturesOn(userId, deviceId);
    this.run("DELETE FROM cs_stream WHERE kind = 'to_device' AND user_id = ? AND device_id = ?", userId, deviceId);
  }

  // ---- device keys
  getDeviceKeys(userId: string, deviceId: string): JsonObject | undefined {
    return this.json("SELECT key_json FROM cs_device_keys WHERE user_id = ? AND device_id = ?", userId, deviceId);
  }

  putDeviceKeys(userId: string, deviceId: string, keys: JsonObject): void {
    this.run("INSERT OR REPLACE INTO cs_device_keys (user_id, device_id, key_json) VALUES (?, ?, ?)", userId, deviceId, JSON.stringify(keys));
  }

  // ---- one-time and fallback keys
  getOneTimeKey(userId: string, deviceId: string, algorithm: string, keyId: string): string | undefined {
    return this.one<{ key_json: string }>("SELECT key_json FROM cs_one_time_keys WHERE user_id = ? AND device_id = ? AND algorithm = ? AND key_id = ?", userId, deviceId, algorithm, keyId)?.key_json;
  }

  putOneTimeKey(userId: string, deviceId: string, algorithm: string, keyId: string, keyJson: string): void {
    this.run("INSERT INTO cs_one_time_keys (user_id, device_id, algorithm, key_id, key_json) VALUES (?, ?, ?, ?, ?)", userId, deviceId, algorithm, keyId, keyJson);
  }

  /** Removes a device's one-time and fallback keys (its Olm account was replaced). */
  deleteDeviceOneTimeKeys(userId: string, deviceId: string): void {
    this.run("DELETE FROM cs_one_time_keys WHERE user_id = ? AND device_id = ?", userId, deviceId);
    this.run("DELETE FROM cs_fallback_keys WHERE user_id = ? AND device_id = ?", userId, deviceId);
  }

  countOneTimeKeys(userId: string, deviceId: string): Record<string, number> {
    const rows = this.all<{ algorithm: string; n: number }>("SELECT algorithm, COUNT(*) AS n FROM cs_one_time_keys WHERE user_id = ? AND device_id = ? GROUP BY algorithm", userId, deviceId);
    return Object.fromEntries(rows.map((r) => [r.algorithm, r.n]));
  }

  /** Removes and returns one one-time key of `algorithm`, oldest key id first. */
  takeOneTimeKey(userId: string, deviceId: string, algorithm: string): { key_id: string; key_json: string } | undefined {
    return this.one<{ key_id: string; key_json: string }>(
      "DELETE FROM cs_one_time_keys WHERE rowid = (SELECT rowid FROM cs_one_time_keys WHERE user_id = ? AND device_id = ? AND algorithm = ? ORDER BY key_id LIMIT 1) RETURNING key_id, key_json",
      userId, deviceId, algorithm,
    );
  }

  putFallbackKey(userId: string, deviceId: string, algorithm: string, keyId: string, keyJson: string): void {
    this.run(
      `INSERT INTO cs_fallback_keys (user_id, device_id, algorithm, key_id, key_json, used) VALUES (?, ?, ?, ?, ?, 0)
       ON CONFLICT (user_id, device_id, algorithm) DO UPDATE SET
         used = CASE WHEN key_id = excluded.key_id AND key_json = excluded.key_json THEN used ELSE 0 END,
         key_id = excluded.key_id, key_json = excluded.key_json`,
      userId, deviceId, algorithm, keyId, keyJson,
    );
  }

  /** Fallback keys are handed out repeatedly but marked used, as the spec describes. */
  useFallbackKey(userId: string, deviceId: string, algorithm: string): { key_id: string; key_json: string } | undefined {
    return this.one<{ key_id: string; key_json: string }>("UPDATE cs_fallback_keys SET used = 1 WHERE user_id = ? AND device_id = ? AND algorithm = ? RETURNING key_id, key_json", userId, deviceId, algorithm);
  }

  unusedFallbackKeyTypes(userId: string, deviceId: string): string[] {
    return this.all<{ algorithm: string }>("SELECT algorithm FROM cs_fallback_keys WHERE user_id = ? AND device_id = ? AND used = 0 ORDER BY algorithm", userId, deviceId).map((r) => r.algorithm);
  }

  // ---- cross-signing keys and signatures
  getCrossSigningKey(userId: string, usage: string): JsonObject | undefined {
    return this.json("SELECT key_json FROM cs_cross_signing_keys WHERE user_id = ? AND usage = ?", userId, usage);
  }

  putCrossSigningKey(userId: string, usage: string, key: JsonObject): void {
    this.run("INSERT OR REPLACE INTO cs_cross_signing_keys (user_id, usage, key_json) VALUES (?, ?, ?)", userId, usage, JSON.stringify(key));
  }

  putSignature(targetUser: string, targetKey: string, signerUser: string, signerKeyId: string, signature: string): void {
    this.run("INSERT OR REPLACE INTO cs_signatures (target_user, target_key, signer_user, signer_key_id, signature) VALUES (?, ?, ?, ?, ?)", targetUser, targetKey, signerUser, signerKeyId, signature);
  }

  signaturesOn(targetUser: string, targetKey: string): { signer_user: string; signer_key_id: string; signature: string }[] {
    return this.all("SELECT signer_user, signer_key_id, signature FROM cs_signatures WHERE target_user = ? AND target_key = ?", targetUser, targetKey);
  }

  deleteSignaturesOn(targetUser: string, targetKey: string): void {
    this.run("DELETE FROM cs_signatures WHERE target_user = ? AND target_key = ?", targetUser, targetKey);
  }

  /** Signatures made by a key that no longer exists are dropped (a replaced self-signing key's, say). */
  deleteSignaturesBy(signerUser: string, signerKeyId: string): void {
    this.run("DELETE FROM cs_signatures WHERE signer_user = ? AND signer_key_id = ?", signerUser, signerKeyId);
  }

  // ---- account data
  getAccountData(userId: string, type: string): string | undefined {
    return this.one<{ content: string }>("SELECT content FROM cs_account_data WHERE user_id = ? AND type = ?", userId, type)?.content;
  }

  allAccountData(userId: string): { type: string; content: string }[] {
    return this.all("SELECT type, content FROM cs_account_data WHERE user_id = ? ORDER BY type", userId);
  }

  putAccountData(userId: string, type: string, content: string): void {
    this.run("INSERT OR REPLACE INTO cs_account_data (user_id, type, content) VALUES (?, ?, ?)", userId, type, content);
  }

  // ---- key backup
  currentBackup(userId: string): BackupVersionRow | undefined {
    return this.one<BackupVersionRow>("SELECT version, algorithm, auth_data, etag FROM cs_backup_versions WHERE user_id = ? AND deleted = 0 ORDER BY version DESC LIMIT 1", userId);
  }

  getBackup(userId: string, version: number): BackupVersionRow | undefined {
    return this.one<BackupVersionRow>("SELECT version, algorithm, auth_data, etag FROM cs_backup_versions WHERE user_id = ? AND version = ? AND deleted = 0", userId, version);
  }

  createBackup(userId: string, algorithm: string, authData: string): number {
    const version = (this.one<{ v: number | null }>("SELECT MAX(version) AS v FROM cs_backup_versions WHERE user_id = ?", userId)?.v ?? 0) + 1;
    this.run("INSERT INTO cs_backup_versions (user_id, version, algorithm, auth_data) VALUES (?, ?, ?, ?)", userId, version, algorithm, authData);
    return version;
  }

  updateBackupAuthData(userId: string, version: number, authData: string): void {
    this.run("UPDATE cs_backup_versions SET auth_data = ? WHERE user_id = ? AND version = ?", authData, userId, version);
  }

  deleteBackup(userId: string, version: number): void {
    this.run("UPDATE cs_backup_versions SET deleted = 1 WHERE user_id = ? AND version = ?", userId, version);
    this.run("DELETE FROM cs_backup_keys WHERE user_id = ? AND version = ?", userId, version);
  }

  bumpBackupEtag(userId: string, version: number): number {
    this.run("UPDATE cs_backup_versions SET etag = etag + 1 WHERE user_id = ? AND version = ?", userId, version);
    return this.getBackup(userId, version)?.etag ?? 0;
  }

  countBackupKeys(userId: string, version: number): number {
    return this.one<{ n: number }>("SELECT COUNT(*) AS n FROM cs_backup_keys WHERE user_id = ? AND version = ?", userId, version)?.n ?? 0;
  }

  getBackupKey(userId: string, version: number, roomId: string, sessionId: string): JsonObject | undefined {
    return this.json("SELECT data FROM cs_backup_keys WHERE user_id = ? AND version = ? AND room_id = ? AND session_id = ?", userId, version, roomId, sessionId);
  }

  putBackupKey(userId: string, version: number, roomId: string, sessionId: string, data: JsonObject): void {
    this.run("INSERT OR REPLACE INTO cs_backup_keys (user_id, version, room_id, session_id, data) VALUES (?, ?, ?, ?, ?)", userId, version, roomId, sessionId, JSON.stringify(data));
  }

  /** The backup's keys, of one room or one session when given. */
  listBackupKeys(userId: string, version: number, roomId?: string, sessionId?: string): { room_id: string; session_id: string; data: string }[] {
    const scope = backupKeyScope(userId, version, roomId, sessionId);
    return this.all(`SELECT room_id, session_id, data FROM cs_backup_keys WHERE ${scope.where} ORDER BY room_id, session_id`, ...scope.params);
  }

  /** Deletes what listBackupKeys would list; returns how many. */
  deleteBackupKeys(userId: string, version: number, roomId?: string, sessionId?: string): number {
    const scope = backupKeyScope(userId, version, roomId, sessionId);
    return this.run(`DELETE FROM cs_backup_keys WHERE ${scope.where}`, ...scope.params).changes;
  }

  // ---- filters and transactions
  putFilter(userId: string, filter: string): number {
    const id = (this.one<{ v: number | null }>("SELECT MAX(filter_id) AS v FROM cs_filters WHERE user_id = ?", userId)?.v ?? -1) + 1;
    this.run("INSERT INTO cs_filters (user_id, filter_id, filter) VALUES (?, ?, ?)", userId, id, filter);
    return id;
  }

  getFilter(userId: string, id: number): string | undefined {
    return this.one<{ filter: string }>("SELECT filter FROM cs_filters WHERE user_id = ? AND filter_id = ?", userId, id)?.filter;
  }

  /** Records a transaction; false when (user, device, path) was seen before (a retry). */
  recordTxn(userId: string, deviceId: string, path: string, now: number): boolean {
    return this.run("INSERT OR IGNORE INTO cs_txns (user_id, device_id, path, ts) VALUES (?, ?, ?, ?)", userId, deviceId, path, now).changes === 1;
  }
}

/** The WHERE clause of a backup's keys, narrowed to a room and a session when given. */
function backupKeyScope(userId: string, version: number, roomId?: string, sessionId?: string): { where: string; params: Param[] } {
  let where = "user_id = ? AND version = ?";
  const params: Param[] = [userId, version];
  if (roomId !== undefined) {
    where += " AND room_id = ?";
    params.push(roomId);
  }
  if (sessionId !== undefined) {
    where += " AND session_id = ?";
    params.push(sessionId);
  }
  return { where, params };
}
