-- Alert incidents can be acknowledged by an operator (who and when; audited
-- in the event log). An acknowledgement belongs to one opening: when the
-- evaluator reopens a resolved incident, it is cleared, so the new opening
-- shows as unacknowledged.
ALTER TABLE alert_incidents ADD COLUMN acknowledged_at TIMESTAMPTZ;
ALTER TABLE alert_incidents ADD COLUMN acknowledged_by TEXT;
CREATE INDEX alert_incidents_opened ON alert_incidents (opened_at DESC, key);

CREATE FUNCTION alert_incidents_clear_ack() RETURNS trigger AS $$
BEGIN
    IF OLD.status = 'resolved' AND NEW.status = 'open' THEN
        NEW.acknowledged_at := NULL;
        NEW.acknowledged_by := NULL;
    END IF;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER alert_incidents_reopen
    BEFORE UPDATE ON alert_incidents
    FOR EACH ROW EXECUTE FUNCTION alert_incidents_clear_ack();
