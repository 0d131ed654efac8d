-- The stores' tables. Times are Unix milliseconds (BIGINT), so the schema is
-- the same on SQLite and PostgreSQL. IF NOT EXISTS adopts databases made by
-- the old examples/sqlstore, whose tables had these shapes.
CREATE TABLE IF NOT EXISTS users (
	id            TEXT PRIMARY KEY,
	email         TEXT NOT NULL UNIQUE,
	password_hash TEXT NOT NULL,
	active        BOOLEAN NOT NULL DEFAULT TRUE,
	token_version BIGINT NOT NULL DEFAULT 0,
	created_at    BIGINT NOT NULL
);
CREATE TABLE IF NOT EXISTS user_roles (
	user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
	role    TEXT NOT NULL,
	PRIMARY KEY (user_id, role)
);
CREATE TABLE IF NOT EXISTS api_keys (
	id         TEXT PRIMARY KEY,
	hash       TEXT NOT NULL UNIQUE,
	name       TEXT NOT NULL,
	roles      TEXT NOT NULL DEFAULT '',
	expires_at BIGINT NOT NULL DEFAULT 0,
	revoked    BOOLEAN NOT NULL DEFAULT FALSE,
	created_at BIGINT NOT NULL
);
CREATE TABLE IF NOT EXISTS refresh_families (
	id           TEXT PRIMARY KEY,
	user_id      TEXT NOT NULL,
	current_jti  TEXT NOT NULL,
	previous_jti TEXT NOT NULL DEFAULT '',
	rotated_at   BIGINT NOT NULL DEFAULT 0,
	created_at   BIGINT NOT NULL,
	expires_at   BIGINT NOT NULL,
	revoked      BOOLEAN NOT NULL DEFAULT FALSE
);
CREATE INDEX IF NOT EXISTS refresh_families_user ON refresh_families (user_id);
CREATE INDEX IF NOT EXISTS refresh_families_expires ON refresh_families (expires_at);
CREATE TABLE IF NOT EXISTS login_attempts (
	key        TEXT PRIMARY KEY,
	attempts   BIGINT NOT NULL,
	last_at    BIGINT NOT NULL,
	expires_at BIGINT NOT NULL
);
CREATE INDEX IF NOT EXISTS login_attempts_expires ON login_attempts (expires_at);
CREATE TABLE IF NOT EXISTS denied_tokens (
	jti      TEXT PRIMARY KEY,
	until_at BIGINT NOT NULL
);
CREATE INDEX IF NOT EXISTS denied_tokens_until ON denied_tokens (until_at);
