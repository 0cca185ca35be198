-- only if: SELECT count() FROM system.columns WHERE database = '$database' AND table = 'incidents' AND name = 'occurred_on' AND type = 'Date'
-- Rebuild `incidents` with occurred_on as Date32 (see 0004): a sorting-key column cannot
-- change type in place. Runs only while the column is still Date, so running it again
-- after an interruption before the EXCHANGE starts over, and after it does nothing.

DROP TABLE IF EXISTS $database.incidents_date32 $on_cluster;

CREATE TABLE $database.incidents_date32 $on_cluster
(
    incident_id String,
    occurred_on Date32 COMMENT 'local date (Asia/Karachi)',
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

INSERT INTO $database.incidents_date32 SELECT * FROM $database.incidents;

EXCHANGE TABLES $database.incidents AND $database.incidents_date32 $on_cluster;

DROP TABLE $database.incidents_date32 $on_cluster;
