-- Webhooks: per-project endpoints that receive every audited change, signed the Standard
-- Webhooks way (https://www.standardwebhooks.com/). Deliveries are an outbox: a row per
-- (audit event, matching endpoint), inserted in the same transaction as the audit event, so a
-- change is delivered if and only if it committed. Any instance may send a delivery; the lease
-- (`claimed_by`, `claimed_until`) makes one instance at a time own it, and an instance that
-- dies mid-send loses its claim when the lease runs out.

CREATE TABLE webhook_endpoints (
    id            TEXT PRIMARY KEY,
    project_id    TEXT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    url           TEXT NOT NULL,
    description   TEXT NOT NULL,
    events        TEXT NOT NULL,      -- JSON list of patterns: "*", "flag.*", "flag.enable"
    format        TEXT NOT NULL,      -- standard | slack
    enabled       BIGINT NOT NULL,    -- 0 / 1
    global_events BIGINT NOT NULL,    -- 1: also events outside projects (tokens, master key)
    master_key_id TEXT NOT NULL,      -- the keyring entry that wraps the signing secret
    wrapped_secret BYTEA NOT NULL,    -- the 32 secret bytes, sealed (keys::wrap)
    created_at    BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL
);
CREATE INDEX webhook_endpoints_project ON webhook_endpoints(project_id);

CREATE TABLE webhook_deliveries (
    id              TEXT PRIMARY KEY,   -- msg_…: the `webhook-id` header, the same on every attempt
    endpoint_id     TEXT NOT NULL REFERENCES webhook_endpoints(id) ON DELETE CASCADE,
    audit_event_id  BIGINT NOT NULL REFERENCES audit_events(id),
    event_type      TEXT NOT NULL,      -- the audit action
    created_at      BIGINT NOT NULL,
    status          TEXT NOT NULL,      -- pending | delivered | failed
    attempts        BIGINT NOT NULL,
    next_attempt_at BIGINT NOT NULL,
    retry_from      BIGINT NOT NULL,    -- the retry window starts here (the event, or a redelivery)
    manual          BIGINT NOT NULL,    -- 1: the next attempt was asked for with `redeliver`
    claimed_by      TEXT,               -- the instance sending it right now
    claimed_until   BIGINT,             -- its lease; past it, any instance may take over
    last_status_code BIGINT
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries(status, next_attempt_at);
CREATE INDEX webhook_deliveries_endpoint ON webhook_deliveries(endpoint_id, id);

-- Every attempt, for the delivery log: no response body beyond a short snippet.
CREATE TABLE webhook_attempts (
    id           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    delivery_id  TEXT NOT NULL REFERENCES webhook_deliveries(id) ON DELETE CASCADE,
    at           BIGINT NOT NULL,
    duration_ms  BIGINT NOT NULL,
    status_code  BIGINT,                -- NULL: no answer (refused, timeout, blocked address)
    error        TEXT,
    response_snippet TEXT,
    manual       BIGINT NOT NULL        -- 1: asked for with `redeliver`
);
CREATE INDEX webhook_attempts_delivery ON webhook_attempts(delivery_id, id);
