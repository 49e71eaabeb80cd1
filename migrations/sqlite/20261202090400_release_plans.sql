-- Release plans, scheduled changes and the scheduler's lease (issue 18).
--
-- A release plan ramps one flag in one environment through ordered steps, each held for a
-- while under guards. Its definition (`spec`) is JSON; its progress lives in columns the
-- scheduler compare-and-sets on `version`, so that with several instances on one database a
-- step is applied once: the claim and the flag write commit in one transaction.
CREATE TABLE release_plans (
    id                   TEXT PRIMARY KEY,
    flag_id              TEXT NOT NULL REFERENCES flags(id) ON DELETE CASCADE,
    environment_id       TEXT NOT NULL REFERENCES environments(id) ON DELETE CASCADE,
    spec                 TEXT NOT NULL,      -- steps, guards, on_failure (see delivery/model.rs)
    status               TEXT NOT NULL,      -- pending, running, paused, completed, aborted, rolled_back, killed
    current_step         BIGINT NOT NULL,    -- -1 until started
    hold_until           BIGINT,             -- microseconds; when the current step's hold ends
    hold_left_ms         BIGINT,             -- while paused: what remained of the hold
    next_check_at        BIGINT,             -- microseconds; the next guard evaluation
    failures             BIGINT NOT NULL DEFAULT 0,  -- consecutive failed evaluations
    pre_plan_state       TEXT,               -- core::FlagState before the first step
    last_check           TEXT,               -- JSON: the last evaluation's results
    reason               TEXT,               -- JSON: why the plan paused or stopped
    version              BIGINT NOT NULL,
    created_by           TEXT NOT NULL,
    created_at           BIGINT NOT NULL,
    updated_at           BIGINT NOT NULL
);
-- One plan at a time per flag and environment.
CREATE UNIQUE INDEX release_plans_one_active ON release_plans(flag_id, environment_id)
    WHERE status IN ('pending', 'running', 'paused');
CREATE INDEX release_plans_due ON release_plans(status, next_check_at);

-- One-off state changes at a given time.
CREATE TABLE scheduled_changes (
    id             TEXT PRIMARY KEY,
    flag_id        TEXT NOT NULL REFERENCES flags(id) ON DELETE CASCADE,
    environment_id TEXT NOT NULL REFERENCES environments(id) ON DELETE CASCADE,
    due_at         BIGINT NOT NULL,    -- microseconds
    change         TEXT NOT NULL,      -- JSON (see delivery/model.rs)
    comment        TEXT NOT NULL DEFAULT '',
    status         TEXT NOT NULL,      -- pending, applied, cancelled, failed
    outcome        TEXT,               -- JSON: the flag version written, or why it failed
    created_by     TEXT NOT NULL,
    created_at     BIGINT NOT NULL,
    updated_at     BIGINT NOT NULL
);
CREATE INDEX scheduled_changes_due ON scheduled_changes(status, due_at);

-- Named leases: the scheduler runs on the instance holding `scheduler`; another takes it over
-- once `expires_at` (microseconds) has passed without a renewal.
CREATE TABLE leases (
    name       TEXT PRIMARY KEY,
    holder     TEXT NOT NULL,
    expires_at BIGINT NOT NULL
);
