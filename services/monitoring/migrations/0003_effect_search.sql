-- Search by effect id (e.g. an ERP order or customer number): outcomes carry a
-- generic list of effects in their payload; this index serves the containment
-- query `payload->'data'->'outcome'->'effects' @> '[{"id": "..."}]'`.
CREATE INDEX events_effects ON events
    USING gin ((payload -> 'data' -> 'outcome' -> 'effects') jsonb_path_ops);
