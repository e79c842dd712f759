-- The browser console (`shiftdesk web`).
--
-- One-time sign-in links (`shiftdesk operators link NAME`): only a hash of the
-- link's secret is stored; a link works once, and only until it expires.
CREATE TABLE web_links (
    id           bigserial PRIMARY KEY,
    operator_id  bigint NOT NULL REFERENCES operators(id),
    token_hash   bytea NOT NULL UNIQUE,
    created_at   timestamptz NOT NULL DEFAULT now(),
    expires_at   timestamptz NOT NULL,
    used_at      timestamptz
);

-- console_sessions (0010) also holds the consoles a browser sign-in starts: they
-- have no key, say how the operator signed in, and run out after a time.
ALTER TABLE console_sessions
    ALTER COLUMN key_fingerprint DROP NOT NULL,
    ADD COLUMN via text NOT NULL DEFAULT 'ssh',      -- 'ssh', or for a browser 'token' or 'link'
    ADD COLUMN expires_at timestamptz;               -- NULL: while the SSH session lasts
