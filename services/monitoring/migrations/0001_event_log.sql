-- The append-only event log: one row per outcome, dead letter and operator action.
CREATE TABLE events (
    id               BIGSERIAL PRIMARY KEY,
    -- The envelope id on the bus (or "audit:<uuid>"); a redelivery is stored once.
    envelope_id      TEXT NOT NULL UNIQUE,
    -- outcome | dead_letter | audit
    kind             TEXT NOT NULL,
    event_type       TEXT NOT NULL,
    flow             TEXT NOT NULL DEFAULT '',
    -- success | validation_failure | erp_error | retry_scheduled | dead_lettered | requeued | discarded
    outcome          TEXT NOT NULL DEFAULT '',
    crm_system       TEXT NOT NULL DEFAULT '',
    crm_object_type  TEXT NOT NULL DEFAULT '',
    crm_record_id    TEXT NOT NULL DEFAULT '',
    erp_order_number TEXT NOT NULL DEFAULT '',
    endpoint         TEXT NOT NULL DEFAULT '',
    http_status      INTEGER NOT NULL DEFAULT 0,
    response_body    TEXT NOT NULL DEFAULT '',
    duration_ms      BIGINT NOT NULL DEFAULT 0,
    attempt          INTEGER NOT NULL DEFAULT 0,
    error_category   TEXT NOT NULL DEFAULT '',
    error_message    TEXT NOT NULL DEFAULT '',
    resolution_code  TEXT NOT NULL DEFAULT '',
    trace_id         TEXT NOT NULL DEFAULT '',
    -- The id of the event that was processed (outcomes) or dead-lettered.
    event_id         TEXT NOT NULL DEFAULT '',
    correlation_id   TEXT NOT NULL DEFAULT '',
    causation_id     TEXT NOT NULL DEFAULT '',
    -- Who did it, for operator actions.
    actor            TEXT NOT NULL DEFAULT '',
    occurred_at      TIMESTAMPTZ NOT NULL,
    recorded_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    payload          JSONB NOT NULL DEFAULT '{}'::jsonb
);

CREATE INDEX events_newest ON events (occurred_at DESC, id DESC);
CREATE INDEX events_crm_record ON events (crm_record_id, occurred_at);
CREATE INDEX events_erp_order ON events (erp_order_number) WHERE erp_order_number <> '';
CREATE INDEX events_event_id ON events (event_id);
CREATE INDEX events_flow_outcome ON events (flow, outcome, occurred_at);

-- The dead-letter index: one row per dead letter, with its review state.
CREATE TABLE dead_letters (
    -- The dead letter's envelope id, e.g. "dlq:<event id>".
    id                TEXT PRIMARY KEY,
    flow              TEXT NOT NULL,
    -- permanent | exhausted | poison
    class             TEXT NOT NULL,
    error_category    TEXT NOT NULL DEFAULT '',
    resolution_code   TEXT NOT NULL DEFAULT '',
    reason            TEXT NOT NULL DEFAULT '',
    error_detail      TEXT NOT NULL DEFAULT '',
    crm_system        TEXT NOT NULL DEFAULT '',
    crm_object_type   TEXT NOT NULL DEFAULT '',
    crm_record_id     TEXT NOT NULL DEFAULT '',
    original_event_id TEXT NOT NULL DEFAULT '',
    original_subject  TEXT NOT NULL DEFAULT '',
    dead_lettered_at  TIMESTAMPTZ NOT NULL,
    -- open | requeued | resolved | discarded
    status            TEXT NOT NULL DEFAULT 'open',
    -- Ids of the events published by each requeue, oldest first.
    requeue_event_ids TEXT[] NOT NULL DEFAULT '{}',
    resolved_at       TIMESTAMPTZ,
    discard_reason    TEXT NOT NULL DEFAULT '',
    updated_at        TIMESTAMPTZ NOT NULL DEFAULT now(),
    -- The dead-letter envelope as published (protobuf), the requeue source.
    envelope          BYTEA NOT NULL
);

CREATE INDEX dead_letters_review ON dead_letters (status, flow, dead_lettered_at DESC);
CREATE INDEX dead_letters_requeued ON dead_letters USING GIN (requeue_event_ids);
