-- The contract accepts occurred_on from 1947-08-14 to 2299-01-01, but Date holds only
-- 1970-01-01..2149-06-06: a valid 1965 report made every insert fail. Date32 holds
-- 1900-01-01..2299-12-31. Columns outside a sorting key change in place (idempotent);
-- incidents and agg_district_day, whose keys hold the date, are rebuilt by 0005 and 0006.
-- rejected_reports gains what a dead letter now says about itself.

ALTER TABLE $database.report_versions $on_cluster
    MODIFY COLUMN occurred_on Date32 COMMENT 'local date (Asia/Karachi)';

ALTER TABLE $database.alerts $on_cluster
    MODIFY COLUMN period_start Date32,
    MODIFY COLUMN period_end Date32;

ALTER TABLE $database.rejected_reports $on_cluster
    ADD COLUMN IF NOT EXISTS stage LowCardinality(String) DEFAULT '' COMMENT 'validate, dedupe, rollup, sink, ...',
    ADD COLUMN IF NOT EXISTS reason LowCardinality(String) DEFAULT '' COMMENT 'invalid_json, contract, too_large, state_limit, internal, unstorable, undecodable',
    ADD COLUMN IF NOT EXISTS raw_size Int64 DEFAULT -1 COMMENT 'bytes of the original message; raw holds at most 64 KiB of it',
    ADD COLUMN IF NOT EXISTS raw_sha256 String DEFAULT '' COMMENT 'SHA-256 of the original message';
