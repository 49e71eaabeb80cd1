-- Feature flags: per-project definitions and segments, per-environment state with its history,
-- and the environment-wide kill switch. JSON documents are TEXT (sqlx's Any driver), in the
-- shapes of switchboard-core's model types.

CREATE TABLE flags (
    id          TEXT PRIMARY KEY,
    project_id  TEXT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    key         TEXT NOT NULL,
    definition  TEXT NOT NULL,          -- core::FlagDefinition
    version     INTEGER NOT NULL,          -- bumps on every definition change (ETag)
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL,
    UNIQUE (project_id, key)
);

-- The current state of a flag in an environment. A flag without a row here is off, serving its
-- off variant (see server/src/store/flags.rs).
CREATE TABLE flag_states (
    flag_id        TEXT NOT NULL REFERENCES flags(id) ON DELETE CASCADE,
    environment_id TEXT NOT NULL REFERENCES environments(id) ON DELETE CASCADE,
    state          TEXT NOT NULL,       -- core::FlagState
    version        INTEGER NOT NULL,       -- equals the newest row of flag_state_versions (ETag)
    updated_at     INTEGER NOT NULL,
    PRIMARY KEY (flag_id, environment_id)
);
CREATE INDEX flag_states_environment ON flag_states(environment_id);

-- Every state a flag ever had in an environment, for history and rollback.
CREATE TABLE flag_state_versions (
    flag_id        TEXT NOT NULL REFERENCES flags(id) ON DELETE CASCADE,
    environment_id TEXT NOT NULL REFERENCES environments(id) ON DELETE CASCADE,
    version        INTEGER NOT NULL,
    state          TEXT NOT NULL,
    created_at     INTEGER NOT NULL,
    actor_name     TEXT NOT NULL,
    actor_token_id TEXT,
    comment        TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (flag_id, environment_id, version)
);

CREATE TABLE segments (
    id          TEXT PRIMARY KEY,
    project_id  TEXT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    name        TEXT NOT NULL,
    definition  TEXT NOT NULL,          -- core::Segment
    version     INTEGER NOT NULL,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL,
    UNIQUE (project_id, name)
);

-- An environment whose kill switch is pulled serves every flag's off variant, whatever the
-- stored states say; restoring deletes the row and the stored states apply again, unchanged.
CREATE TABLE environment_kills (
    environment_id TEXT PRIMARY KEY REFERENCES environments(id) ON DELETE CASCADE,
    killed_at      INTEGER NOT NULL,
    actor_name     TEXT NOT NULL,
    reason         TEXT NOT NULL DEFAULT ''
);
