-- Keyless pipelines (issue 16): trust policies that let a CI job exchange its OIDC identity token
-- for a short-lived Switchboard token (RFC 8693), the `jti`s already exchanged (replay), and the
-- federated identity an exchanged token was issued to.

-- One policy per (project, name). `audiences`, `scopes` and `environments` are JSON arrays,
-- `bound_claims` a JSON object of claim name to exact value or glob; all must match.
CREATE TABLE oidc_policies (
    id           TEXT PRIMARY KEY,
    project_id   TEXT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    name         TEXT NOT NULL,
    issuer       TEXT NOT NULL,
    audiences    TEXT NOT NULL,
    bound_claims TEXT NOT NULL,
    scopes       TEXT NOT NULL,
    environments TEXT NOT NULL,
    ttl_seconds  BIGINT NOT NULL,
    created_at   BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL,
    UNIQUE (project_id, name)
);

-- Identity tokens already exchanged, kept until they expire (then pruned): a `jti` seen before
-- is refused on every instance. The token itself is never stored.
CREATE TABLE oidc_seen_tokens (
    issuer     TEXT NOT NULL,
    jti        TEXT NOT NULL,
    expires_at BIGINT NOT NULL,  -- microseconds since the epoch
    PRIMARY KEY (issuer, jti)
);
CREATE INDEX oidc_seen_tokens_expiry ON oidc_seen_tokens(expires_at);

-- For tokens issued by an exchange: the policy and the federated identity (JSON: policy,
-- issuer, subject, repository, run_id). NULL for every other token.
ALTER TABLE tokens ADD COLUMN federation TEXT;
