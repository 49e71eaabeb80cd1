-- Outcomes of writes sent with an `Idempotency-Key` header, so that a retried request gets the
-- original answer instead of being applied twice. Kept 24 hours (expired rows are ignored and
-- deleted when their key is claimed again). Neither the token nor the request body is stored:
-- `caller` and `request_hash` are SHA-256 digests keyed by the token, so a secret value in a
-- body cannot be recovered or guessed from them. Bodies of answers that carry `Cache-Control:
-- no-store` are never stored.
CREATE TABLE idempotency_keys (
    caller       TEXT NOT NULL,      -- SHA-256 of the Authorization header
    key          TEXT NOT NULL,      -- the client's Idempotency-Key
    request_hash TEXT NOT NULL,      -- SHA-256 of token, method, path and body
    status       BIGINT NOT NULL,    -- 0 while the first request is in flight
    etag         TEXT,
    location     TEXT,
    content_type TEXT,
    body         TEXT,
    created_at   BIGINT NOT NULL,    -- microseconds since the epoch
    PRIMARY KEY (caller, key)
);
