-- Core schema: every table of DESIGN.md, so later work fills rather than reshapes.

CREATE TABLE operators (
    id           bigserial PRIMARY KEY,
    name         text NOT NULL UNIQUE,              -- login name, e.g. "anna"
    display_name text NOT NULL,
    role         text NOT NULL DEFAULT 'operator' CHECK (role IN ('operator', 'lead')),
    token_hash   bytea NOT NULL UNIQUE,             -- sha256 of the token; the token itself is never stored
    created_at   timestamptz NOT NULL DEFAULT now(),
    revoked_at   timestamptz
);

CREATE TABLE authors (
    id           bigserial PRIMARY KEY,
    platform     text NOT NULL,
    platform_id  text NOT NULL,
    handle       text NOT NULL,
    display_name text NOT NULL DEFAULT '',
    followers    integer NOT NULL DEFAULT 0,
    updated_at   timestamptz NOT NULL DEFAULT now(),
    UNIQUE (platform, platform_id)
);

CREATE TABLE conversations (
    id               bigserial PRIMARY KEY,
    platform         text NOT NULL,
    author_id        bigint NOT NULL REFERENCES authors(id),
    thread_root      text,                          -- platform post id the thread started with
    is_direct        boolean NOT NULL DEFAULT false,
    state            text NOT NULL DEFAULT 'new' CHECK (state IN
                       ('new', 'claimed', 'awaiting_customer', 'in_dm', 'flagged_conduct', 'resolved', 'dismissed')),
    priority         smallint NOT NULL DEFAULT 3 CHECK (priority BETWEEN 1 AND 4),
    priority_reasons text[] NOT NULL DEFAULT '{}',
    claimed_by       bigint REFERENCES operators(id),
    claim_expires_at timestamptz,
    escalated        boolean NOT NULL DEFAULT false,
    first_inbound_at timestamptz NOT NULL,
    last_inbound_at  timestamptz NOT NULL,
    first_response_at timestamptz,
    sla_kind         text CHECK (sla_kind IN ('first', 'next')),
    sla_started_at   timestamptz,
    sla_warn_at      timestamptz,
    sla_due_at       timestamptz,                   -- NULL while the clock is paused
    sla_warned       boolean NOT NULL DEFAULT false,
    sla_breached     boolean NOT NULL DEFAULT false,
    language         text,
    sentiment        real,
    flags            jsonb NOT NULL DEFAULT '[]',
    owes_public_close boolean NOT NULL DEFAULT false,
    dismissed_reason text,
    resolved_at      timestamptz,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now()
);
-- The queue: open conversations by SLA due time.
CREATE INDEX conversations_queue ON conversations (sla_due_at NULLS LAST, priority, id)
    WHERE state NOT IN ('resolved', 'dismissed');
CREATE INDEX conversations_author ON conversations (author_id, last_inbound_at DESC);
CREATE INDEX conversations_thread ON conversations (platform, thread_root);
CREATE INDEX conversations_claims ON conversations (claim_expires_at) WHERE claimed_by IS NOT NULL;

CREATE TABLE mentions (
    id               bigserial PRIMARY KEY,
    platform         text NOT NULL,
    post_id          text NOT NULL,
    conversation_id  bigint REFERENCES conversations(id),   -- NULL for the brand's own posts
    author_id        bigint NOT NULL REFERENCES authors(id),
    text             text NOT NULL,
    url              text NOT NULL DEFAULT '',
    created_at       timestamptz NOT NULL,          -- when the customer posted it
    received_at      timestamptz NOT NULL DEFAULT now(),
    in_reply_to      text,
    thread_root      text,
    is_direct        boolean NOT NULL DEFAULT false,
    is_ours          boolean NOT NULL DEFAULT false,
    match_how        text[] NOT NULL DEFAULT '{}',  -- tagged, hashtag, name, direct
    language         text,
    sentiment        real,
    followers        integer NOT NULL DEFAULT 0,
    priority         smallint NOT NULL DEFAULT 3,
    priority_reasons text[] NOT NULL DEFAULT '{}',
    flags            jsonb NOT NULL DEFAULT '[]',
    raw              jsonb NOT NULL DEFAULT '{}',
    UNIQUE (platform, post_id)
);
CREATE INDEX mentions_conversation ON mentions (conversation_id, created_at);
CREATE INDEX mentions_received ON mentions (received_at);

CREATE TABLE messages (
    id               bigserial PRIMARY KEY,
    conversation_id  bigint NOT NULL REFERENCES conversations(id),
    operator_id      bigint REFERENCES operators(id),
    channel          text NOT NULL CHECK (channel IN ('public', 'dm')),
    purpose          text NOT NULL DEFAULT 'reply',  -- reply, dm_ack, dm, closing, house_rules, holding
    text             text NOT NULL,
    in_reply_to      text,                           -- platform post id answered
    status           text NOT NULL DEFAULT 'queued' CHECK (status IN ('queued', 'published', 'failed')),
    platform_post_id text,
    url              text NOT NULL DEFAULT '',
    error            text,
    advisories       jsonb NOT NULL DEFAULT '[]',    -- the warnings the operator chose to send past
    created_at       timestamptz NOT NULL DEFAULT now(),
    published_at     timestamptz
);
CREATE INDEX messages_conversation ON messages (conversation_id, created_at);
CREATE INDEX messages_platform_post ON messages (platform_post_id) WHERE platform_post_id IS NOT NULL;

CREATE TABLE outbox (
    id               bigserial PRIMARY KEY,
    message_id       bigint NOT NULL UNIQUE REFERENCES messages(id),
    idempotency_key  text NOT NULL UNIQUE,
    platform         text NOT NULL,
    attempts         integer NOT NULL DEFAULT 0,
    next_attempt_at  timestamptz NOT NULL DEFAULT now(),
    last_error       text,
    done_at          timestamptz,
    created_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX outbox_pending ON outbox (next_attempt_at) WHERE done_at IS NULL;

-- Append-only: the audit log and the live feed. Inserts are serialised by an
-- advisory lock held to commit, so ids become visible in order and a client
-- that asks for "everything after N" never misses one.
CREATE TABLE events (
    id               bigserial PRIMARY KEY,
    at               timestamptz NOT NULL DEFAULT now(),
    kind             text NOT NULL,
    conversation_id  bigint,
    operator_id      bigint,
    state_before     text,
    state_after      text,
    data             jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX events_conversation ON events (conversation_id, id);

CREATE FUNCTION notify_events() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- One notification per statement; PostgreSQL folds repeats within a transaction.
    PERFORM pg_notify('shiftdesk_events', '');
    RETURN NULL;
END $$;
CREATE TRIGGER events_notify AFTER INSERT ON events
    FOR EACH STATEMENT EXECUTE FUNCTION notify_events();

CREATE TABLE notes (
    id               bigserial PRIMARY KEY,
    conversation_id  bigint NOT NULL REFERENCES conversations(id),
    operator_id      bigint NOT NULL REFERENCES operators(id),
    text             text NOT NULL,
    pinned           boolean NOT NULL DEFAULT false,
    created_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX notes_conversation ON notes (conversation_id, created_at);

CREATE TABLE tags (
    id   bigserial PRIMARY KEY,
    name text NOT NULL UNIQUE
);

CREATE TABLE conversation_tags (
    conversation_id bigint NOT NULL REFERENCES conversations(id),
    tag_id          bigint NOT NULL REFERENCES tags(id),
    PRIMARY KEY (conversation_id, tag_id)
);

CREATE TABLE handovers (
    id           bigserial PRIMARY KEY,
    operator_id  bigint NOT NULL REFERENCES operators(id),
    period_start timestamptz NOT NULL,
    period_end   timestamptz NOT NULL,
    note         text NOT NULL DEFAULT '',
    summary      jsonb NOT NULL DEFAULT '{}',
    created_at   timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE shifts (
    id           bigserial PRIMARY KEY,
    operator_id  bigint NOT NULL REFERENCES operators(id),
    started_at   timestamptz NOT NULL DEFAULT now(),
    ended_at     timestamptz,
    handover_id  bigint REFERENCES handovers(id)
);
CREATE INDEX shifts_open ON shifts (operator_id) WHERE ended_at IS NULL;

-- Where each connector has read up to; written in the transaction that stores
-- what it read, so a restart neither loses nor repeats a mention.
CREATE TABLE connector_state (
    connector   text PRIMARY KEY,
    cursor      jsonb NOT NULL DEFAULT '{}',
    updated_at  timestamptz NOT NULL DEFAULT now()
);
