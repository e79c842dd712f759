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

-- A credential minted for a console that a server starts on an operator's
-- behalf (a browser sign-in): the console's API calls carry it instead of the
-- operator's own token, which the server may never have seen (a one-time
-- link). It works while the session is open, its operator not revoked, and
-- until it expires; only its hash is stored.
CREATE TABLE console_sessions (
    id           bigserial PRIMARY KEY,
    operator_id  bigint NOT NULL REFERENCES operators(id),
    token_hash   bytea NOT NULL UNIQUE,
    via          text NOT NULL,                     -- how they signed in: 'token', 'link'
    started_at   timestamptz NOT NULL DEFAULT now(),
    expires_at   timestamptz NOT NULL,
    ended_at     timestamptz
);
CREATE INDEX console_sessions_open ON console_sessions (operator_id) WHERE ended_at IS NULL;
