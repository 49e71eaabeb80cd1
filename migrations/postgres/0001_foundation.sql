-- Foundation: projects, environments, tokens, server keys, audit log.
-- Types stay within what sqlx's Any driver decodes: TEXT, BIGINT, BYTEA.
-- Timestamps are microseconds since the Unix epoch.

CREATE TABLE projects (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL UNIQUE,
    description TEXT NOT NULL DEFAULT '',
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL
);

CREATE TABLE environments (
    id          TEXT PRIMARY KEY,
    project_id  TEXT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    name        TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    parent_id   TEXT REFERENCES environments(id),
    position    BIGINT NOT NULL,
    revision    BIGINT NOT NULL DEFAULT 0,
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL,
    UNIQUE (project_id, name)
);
CREATE INDEX environments_parent ON environments(parent_id);

-- Keys that sign tokens, encrypted under the master keyring (see server/src/keys.rs).
CREATE TABLE signing_keys (
    id            TEXT PRIMARY KEY,
    master_key_id TEXT NOT NULL,
    wrapped       BYTEA NOT NULL,
    created_at    BIGINT NOT NULL
);

CREATE TABLE tokens (
    id           TEXT PRIMARY KEY,
    name         TEXT NOT NULL,
    scopes       TEXT NOT NULL,  -- JSON array of scope names
    projects     TEXT NOT NULL,  -- JSON array of project names, or ["*"]
    environments TEXT NOT NULL,  -- JSON array of environment names, or ["*"]
    created_at   BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL,
    revoked_at   BIGINT,
    created_by   TEXT
);
CREATE INDEX tokens_revoked ON tokens(revoked_at);

-- One row per one-time event (e.g. the first admin token), so two instances starting on an
-- empty database cannot both perform it.
CREATE TABLE store_events (
    name TEXT PRIMARY KEY,
    at   BIGINT NOT NULL
);

-- Append-only: no API updates or deletes rows here.
CREATE TABLE audit_events (
    id             BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at             BIGINT NOT NULL,
    actor_token_id TEXT,
    actor_name     TEXT NOT NULL,
    source_ip      TEXT,
    request_id     TEXT,
    action         TEXT NOT NULL,
    project        TEXT,
    environment    TEXT,
    target         TEXT NOT NULL,
    before_state   TEXT,
    after_state    TEXT
);
CREATE INDEX audit_events_at ON audit_events(at);
CREATE INDEX audit_events_project ON audit_events(project, id);
CREATE INDEX audit_events_actor ON audit_events(actor_token_id, id);
