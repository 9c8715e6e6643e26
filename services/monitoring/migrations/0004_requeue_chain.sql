-- Requeue chains. A dead letter's requeued event can fail again and become a
-- new dead letter: the link between the two is derived from
-- `requeue_event_ids` (of the earlier one) and `original_event_id` (of the
-- later one); this index serves the later-to-earlier direction.
CREATE INDEX dead_letters_original_event ON dead_letters (original_event_id);

-- The original event as last corrected by an operator (protobuf), so a later
-- requeue of the same dead letter starts from that correction instead of
-- silently dropping it. NULL until a corrected requeue.
ALTER TABLE dead_letters ADD COLUMN corrected_event BYTEA;
