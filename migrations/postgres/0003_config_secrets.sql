-- Configuration entries and encrypted secrets, per environment, with their full history.

-- The current value of each config key set in an environment (an override of its parents).
CREATE TABLE config_entries (
    environment_id TEXT NOT NULL REFERENCES environments(id) ON DELETE CASCADE,
    key            TEXT NOT NULL,
    value          TEXT NOT NULL,       -- JSON
    description    TEXT NOT NULL DEFAULT '',
    version        BIGINT NOT NULL,       -- equals the newest config_versions row (ETag)
    updated_at     BIGINT NOT NULL,
    PRIMARY KEY (environment_id, key)
);

-- Every value a key had in an environment; `value` NULL records the override's removal.
CREATE TABLE config_versions (
    environment_id TEXT NOT NULL REFERENCES environments(id) ON DELETE CASCADE,
    key            TEXT NOT NULL,
    version        BIGINT NOT NULL,
    value          TEXT,
    description    TEXT NOT NULL DEFAULT '',
    created_at     BIGINT NOT NULL,
    actor_name     TEXT NOT NULL,
    actor_token_id TEXT,
    comment        TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (environment_id, key, version)
);

-- A secret's current version; the values live only in secret_versions, encrypted.
CREATE TABLE secrets (
    environment_id TEXT NOT NULL REFERENCES environments(id) ON DELETE CASCADE,
    name           TEXT NOT NULL,
    version        BIGINT NOT NULL,
    created_at     BIGINT NOT NULL,
    updated_at     BIGINT NOT NULL,
    updated_by     TEXT NOT NULL,
    PRIMARY KEY (environment_id, name)
);

-- Envelope encryption (see server/src/secrets/crypto.rs for the byte layout): each version has
-- its own data key, stored wrapped by the master key named in master_key_id.
CREATE TABLE secret_versions (
    environment_id TEXT NOT NULL REFERENCES environments(id) ON DELETE CASCADE,
    name           TEXT NOT NULL,
    version        BIGINT NOT NULL,
    master_key_id  TEXT NOT NULL,
    wrapped_key    BYTEA NOT NULL,
    ciphertext     BYTEA NOT NULL,
    created_at     BIGINT NOT NULL,
    actor_name     TEXT NOT NULL,
    actor_token_id TEXT,
    comment        TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (environment_id, name, version)
);
CREATE INDEX secret_versions_master_key ON secret_versions(master_key_id);
