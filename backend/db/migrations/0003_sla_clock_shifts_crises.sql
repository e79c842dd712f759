-- The SLA clock reads the next pending warning or breach; these partial indexes
-- hold only conversations whose clock is running and has something left to say.
CREATE INDEX conversations_sla_warn_pending ON conversations (sla_warn_at)
    WHERE sla_warn_at IS NOT NULL AND NOT sla_warned AND NOT sla_breached;
CREATE INDEX conversations_sla_due_pending ON conversations (sla_due_at)
    WHERE sla_due_at IS NOT NULL AND NOT sla_breached;

-- One row per breach: who held the conversation (or last handled it) and in
-- which of their shifts, so breaches count per operator and per shift.
CREATE TABLE sla_breaches (
    id               bigserial PRIMARY KEY,
    conversation_id  bigint NOT NULL REFERENCES conversations(id),
    sla_kind         text NOT NULL,
    priority         smallint NOT NULL,
    due_at           timestamptz NOT NULL,
    operator_id      bigint REFERENCES operators(id),
    shift_id         bigint REFERENCES shifts(id),
    UNIQUE (conversation_id, due_at)
);
CREATE INDEX sla_breaches_due ON sla_breaches (due_at);
CREATE INDEX sla_breaches_operator ON sla_breaches (operator_id, due_at);

-- Crisis periods as declared; at most one open at a time (the unique index
-- makes a second backend's declaration fail instead of doubling it).
CREATE TABLE crises (
    id               bigserial PRIMARY KEY,
    started_at       timestamptz NOT NULL,
    ended_at         timestamptz,
    peak_per_minute  real NOT NULL DEFAULT 0,
    data             jsonb NOT NULL DEFAULT '{}'
);
CREATE UNIQUE INDEX crises_one_open ON crises ((true)) WHERE ended_at IS NULL;

CREATE INDEX events_kind_at ON events (kind, at);
CREATE INDEX handovers_created ON handovers (created_at DESC);
CREATE INDEX messages_published ON messages (published_at) WHERE published_at IS NOT NULL;
