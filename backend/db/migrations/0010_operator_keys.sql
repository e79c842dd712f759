-- SSH keys are operators' identities for `shiftdesk ssh`: a key belongs to exactly
-- one operator (its SHA256 fingerprint is unique), so a key tells who is at the desk.
CREATE TABLE operator_keys (
    id           bigserial PRIMARY KEY,
    operator_id  bigint NOT NULL REFERENCES operators (id),
    fingerprint  text NOT NULL UNIQUE,        -- SHA256:..., as `ssh-keygen -l` prints it
    public_key   text NOT NULL,               -- the OpenSSH line, algorithm and base64 only
    comment      text NOT NULL DEFAULT '',    -- e.g. anna@laptop, from the key file
    added_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX operator_keys_operator ON operator_keys (operator_id);

-- One row per console served over SSH. Its token is the console's credential for
-- the API while the SSH session lasts: it stops working when the session ends
-- (ended_at set), so no long-lived operator token is ever handed to a child process.
CREATE TABLE console_sessions (
    id               bigserial PRIMARY KEY,
    operator_id      bigint NOT NULL REFERENCES operators (id),
    token_hash       bytea NOT NULL UNIQUE,
    key_fingerprint  text NOT NULL,
    address          text NOT NULL DEFAULT '',
    started_at       timestamptz NOT NULL DEFAULT now(),
    ended_at         timestamptz,
    end_reason       text
);
CREATE INDEX console_sessions_open ON console_sessions (operator_id) WHERE ended_at IS NULL;
