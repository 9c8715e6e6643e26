-- Alerting: which dead letters have been announced, and open incidents.

-- Set by the replica that claimed the dead letter's alert (exactly one does).
ALTER TABLE dead_letters ADD COLUMN alerted_at TIMESTAMPTZ;
-- Dead letters that existed before alerting are not announced again.
UPDATE dead_letters SET alerted_at = now();
CREATE INDEX dead_letters_unalerted ON dead_letters (dead_lettered_at) WHERE alerted_at IS NULL;

-- One row per incident key (e.g. "no_success:deal-to-order"); a replica that
-- flips it open or resolved is the one that notifies, so each transition is sent once.
CREATE TABLE alert_incidents (
    key         TEXT PRIMARY KEY,
    rule        TEXT NOT NULL,
    flow        TEXT NOT NULL,
    severity    TEXT NOT NULL,
    status      TEXT NOT NULL,
    summary     TEXT NOT NULL DEFAULT '',
    opened_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    resolved_at TIMESTAMPTZ
);
