-- only if: SELECT count() = 0 FROM system.columns WHERE database = '$database' AND table = 'report_versions' AND name = 'published_at'
-- Figures "as known on" a date (docs/analysts.md) are recomputed from report_versions, so
-- it must keep what the version order needs and when each version reached the platform:
-- - `fingerprint`, the SHA-256 of the report's canonical JSON, breaks a tie between two
--   different bodies sent under one version (docs/semantics.md). In the sorting key, so
--   both bodies are kept rather than collapsed into whichever was inserted last.
-- - `published_at`, when the report was published to the raw topic (the Kafka timestamp a
--   worker carries along in a header): the same for every copy of one publication, also
--   after `incidents replay`. In the sorting key, so a report sent again keeps its first
--   arrival as well. 0 on rows written before this migration (as-of then uses received_at).
-- - `reported_at` to the microsecond, as the contract and the version order have it.
-- New columns can join a sorting key only in the ALTER that adds them, without a default.

ALTER TABLE $database.report_versions $on_cluster
    ADD COLUMN fingerprint String COMMENT 'SHA-256 of the canonical report JSON; empty: written before migration 13',
    ADD COLUMN published_at DateTime64(3, 'UTC') COMMENT 'raw topic Kafka timestamp of the publication; 0: written before migration 13',
    MODIFY ORDER BY (source, source_event_id, version, fingerprint, published_at);

ALTER TABLE $database.report_versions $on_cluster
    MODIFY COLUMN reported_at DateTime64(6, 'UTC');
