-- Authentication tags over secrets' metadata (see server/src/secrets.rs, "Metadata integrity"):
-- a moved current-version pointer, a deleted version row or a deleted secret row no longer
-- goes unnoticed. Rows that exist when this migration runs are tagged by the server process
-- that applied it (it holds the master key; SQL cannot); after that an untagged row is refused.

-- HMAC over the row's place, current version and number of versions; mac_key_id names the
-- master key whose subkey made it.
ALTER TABLE secrets ADD COLUMN mac_key_id TEXT;
ALTER TABLE secrets ADD COLUMN mac BLOB;

-- One tag per environment over its live secrets (name, current version) and its number of
-- version rows: an export checks it, so a secret row deleted behind Switchboard's back is
-- noticed. No row: the environment has never held a secret.
CREATE TABLE secret_sets (
    environment_id TEXT PRIMARY KEY REFERENCES environments(id) ON DELETE CASCADE,
    mac_key_id     TEXT NOT NULL,
    mac            BLOB NOT NULL
);
