-- The warehouse tables. Every table is a ReplacingMergeTree whose sorting key identifies a
-- message, so the at-least-once sink can insert the same message any number of times.
-- Placeholders ($name) are filled by sinks/migrate.py from validated settings only.

CREATE TABLE IF NOT EXISTS $database.report_versions $on_cluster
(
    report_id String,
    incident_id String DEFAULT '' COMMENT 'empty: reports.valid does not name the incident; see incidents.report_ids',
    source LowCardinality(String),
    source_event_id String,
    version UInt32,
    reported_at DateTime64(3, 'UTC'),
    retracted UInt8,
    occurred_on Date COMMENT 'local date (Asia/Karachi)',
    date_precision LowCardinality(String),
    province LowCardinality(String),
    district Nullable(String),
    location Nullable(String),
    latitude Nullable(Float64),
    longitude Nullable(Float64),
    category LowCardinality(String),
    subtype LowCardinality(String),
    killed_civilians UInt32,
    killed_security UInt32,
    killed_militants UInt32,
    killed_unknown UInt32,
    killed_total UInt32,
    injured_civilians UInt32,
    injured_security UInt32,
    injured_militants UInt32,
    injured_unknown UInt32,
    injured_total UInt32,
    perpetrator Nullable(String),
    target Nullable(String),
    notes Nullable(String),
    url Nullable(String),
    kafka_topic LowCardinality(String),
    kafka_partition Int32,
    kafka_offset Int64,
    received_at DateTime64(3, 'UTC') COMMENT 'Kafka timestamp of the reports.valid record'
)
ENGINE = $replacing($replica)
ORDER BY (source, source_event_id, version);

CREATE TABLE IF NOT EXISTS $database.incidents $on_cluster
(
    incident_id String,
    occurred_on Date COMMENT 'local date (Asia/Karachi)',
    province LowCardinality(String),
    district LowCardinality(String),
    category LowCardinality(String),
    location String COMMENT 'normalized',
    location_display String,
    subtype LowCardinality(String),
    killed_civilians UInt32,
    killed_security UInt32,
    killed_militants UInt32,
    killed_unknown UInt32,
    killed_total UInt32,
    injured_civilians UInt32,
    injured_security UInt32,
    injured_militants UInt32,
    injured_unknown UInt32,
    injured_total UInt32,
    killed_from String COMMENT 'report id the killed split was taken from',
    injured_from String,
    report_ids Array(String),
    revision UInt64 COMMENT 'revision of the district-day snapshot that wrote the row',
    is_deleted UInt8
)
ENGINE = $replacing($replica_args revision, is_deleted)
ORDER BY (province, district, occurred_on, incident_id);

CREATE TABLE IF NOT EXISTS $database.agg_district_day $on_cluster
(
    day Date COMMENT 'local date (Asia/Karachi)',
    province LowCardinality(String),
    district LowCardinality(String),
    incidents UInt32,
    terror_attacks UInt32,
    security_operations UInt32,
    killed_civilians UInt32,
    killed_security UInt32,
    killed_militants UInt32,
    killed_unknown UInt32,
    killed_total UInt32,
    injured_civilians UInt32,
    injured_security UInt32,
    injured_militants UInt32,
    injured_unknown UInt32,
    injured_total UInt32,
    revision UInt64,
    is_deleted UInt8 COMMENT '1 when the district-day has no incidents left'
)
ENGINE = $replacing($replica_args revision, is_deleted)
ORDER BY (province, district, day);

CREATE TABLE IF NOT EXISTS $database.rejected_reports $on_cluster
(
    topic LowCardinality(String) COMMENT 'where the rejected bytes were read',
    partition Int32,
    offset Int64,
    rejected_by LowCardinality(String) COMMENT 'pipeline: a dead letter; sink: the sink could not decode it',
    errors Array(Tuple(field String, message String)),
    reasons String COMMENT 'the errors as one line: "field: message; ..."',
    raw String,
    source String,
    source_event_id String,
    received_at DateTime64(3, 'UTC')
)
ENGINE = $replacing($replica)
ORDER BY (topic, partition, offset);

CREATE TABLE IF NOT EXISTS $database.alerts $on_cluster
(
    alert_id String,
    kind LowCardinality(String),
    fired_at DateTime64(3, 'UTC'),
    province LowCardinality(String),
    district LowCardinality(String),
    period_start Date,
    period_end Date,
    value Float64,
    baseline Float64,
    details String
)
ENGINE = $replacing($replica)
ORDER BY alert_id;
