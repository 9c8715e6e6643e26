-- Every vendor call of an outcome's attempt, in call order, with its response
-- body (truncated to 10 KB and redacted by the flow). The outcome row's
-- endpoint and status are those of its result call (`result`), e.g. the ERP
-- order create or look-up rather than the CRM write-back that ran last. The
-- bodies live here only; the row's payload keeps each call without its body.
CREATE TABLE vendor_calls (
    event_row_id  BIGINT NOT NULL REFERENCES events (id) ON DELETE CASCADE,
    seq           INTEGER NOT NULL,
    system        TEXT NOT NULL,
    endpoint      TEXT NOT NULL,
    http_status   INTEGER NOT NULL,
    duration_ms   BIGINT NOT NULL,
    response_body TEXT NOT NULL DEFAULT '',
    result        BOOLEAN NOT NULL DEFAULT false,
    PRIMARY KEY (event_row_id, seq)
);

-- The scheduled weekly SLA reports: one row per scheduled time, claimed by
-- the one replica that sends it. A claim whose sender died before `sent_at`
-- can be taken over after a while (see the monitoring's report scheduler).
CREATE TABLE report_runs (
    scheduled_for TIMESTAMPTZ PRIMARY KEY,
    -- ISO week reported, e.g. 2026-W48.
    week          TEXT NOT NULL,
    claimed_by    TEXT NOT NULL,
    claimed_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
    sent_at       TIMESTAMPTZ,
    -- Channels that took it, e.g. {email,slack}; the failures' reasons in `error`.
    delivered_to  TEXT[] NOT NULL DEFAULT '{}',
    error         TEXT NOT NULL DEFAULT ''
);
